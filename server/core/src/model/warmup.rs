//! Warm-up, as `model.toml`'s `[warmup]` section configures it (Triton's
//! `model_warmup` in spirit): before a version serves, each instance runs
//! `count` calls on a batch of `batch_size` rows, so the first real request
//! does not pay for lazy initialisation.
//!
//! ```toml
//! [warmup]
//! enabled = true          # false: serve without a warm-up call
//! batch_size = 1          # rows (models with a batch dimension)
//! count = 1               # calls per instance
//! data = "zero"           # zero | random: inputs not listed below
//! bytes_value = "0"       # every BYTES element (parses as a number)
//!
//! [warmup.inputs.INPUT0]
//! data = "random"                  # or:
//! file = "warmup/INPUT0.bin"       # raw little-endian data, beside the model
//! bytes_value = "17"               # BYTES inputs only
//! shape = [1, 16]                  # the shape to use where the model's is dynamic
//! ```
//! A file is read from the version directory (`<model>/<version>/warmup/..`,
//! since remote registries fetch one version at a time); BYTES files hold
//! each element as a 4-byte little-endian length and its bytes, as Triton's.

use std::collections::BTreeMap;
use std::path::{Component, Path};

use bytes::Bytes;

use crate::model::spec::TensorSpec;
use crate::tensor::datatype::DataType;
use crate::tensor::elements::ElementWriter;
use crate::tensor::{Tensor, push_string};

/// The BYTES value used when nothing else is configured: a number, so that
/// models which parse their strings (a `Cast` from STRING) accept it.
const DEFAULT_BYTES_VALUE: &str = "0";

#[derive(Debug, Clone, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WarmupConfig {
    pub enabled: bool,
    pub batch_size: usize,
    pub count: usize,
    pub data: WarmupData,
    pub bytes_value: String,
    pub inputs: BTreeMap<String, InputWarmup>,
}

impl Default for WarmupConfig {
    fn default() -> Self {
        WarmupConfig {
            enabled: true,
            batch_size: 1,
            count: 1,
            data: WarmupData::Zero,
            bytes_value: DEFAULT_BYTES_VALUE.to_owned(),
            inputs: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WarmupData {
    Zero,
    Random,
}

/// One input's sample; what is not set comes from `[warmup]`.
#[derive(Debug, Clone, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputWarmup {
    pub data: Option<WarmupData>,
    pub file: Option<String>,
    pub bytes_value: Option<String>,
    pub shape: Option<Vec<i64>>,
}

impl WarmupConfig {
    /// Checks what can be checked without the model: counts and file paths.
    pub fn check(&self, max_batch_size: usize) -> Result<(), String> {
        if self.count == 0 {
            return Err("warmup.count must be at least 1 (set warmup.enabled = false to skip warm-up)".into());
        }
        if self.batch_size == 0 || (max_batch_size > 0 && self.batch_size > max_batch_size) {
            return Err(format!(
                "warmup.batch_size {} is outside 1..=max_batch_size ({max_batch_size})",
                self.batch_size
            ));
        }
        for (name, input) in &self.inputs {
            if let Some(file) = &input.file {
                let plain = Path::new(file).components().all(|c| matches!(c, Component::Normal(_)));
                if !plain || file.is_empty() {
                    return Err(format!(
                        "warmup.inputs.{name}.file '{file}' must be a relative path inside the version"
                    ));
                }
                if input.data.is_some() {
                    return Err(format!("warmup.inputs.{name}: give either data or file, not both"));
                }
            }
        }
        Ok(())
    }
}

/// One warm-up batch (its inputs in the model's input order), and a
/// description of each input's sample for errors.
pub struct WarmupBatch {
    pub inputs: Vec<Tensor>,
    pub described: String,
}

/// The warm-up batch for a loaded model's `inputs`, or None when warm-up is
/// off. `batched` says whether the first dimension is the batch dimension.
pub fn warmup_batch(
    config: &WarmupConfig,
    specs: &[TensorSpec],
    batched: bool,
    version_dir: &Path,
) -> Result<Option<WarmupBatch>, String> {
    if !config.enabled {
        return Ok(None);
    }
    if let Some(unknown) = config.inputs.keys().find(|name| !specs.iter().any(|s| &s.name == *name)) {
        let known: Vec<&str> = specs.iter().map(|s| s.name.as_str()).collect();
        return Err(format!("[warmup.inputs.{unknown}] names no input of the model (inputs: {known:?})"));
    }
    let mut inputs = Vec::with_capacity(specs.len());
    let mut described = Vec::with_capacity(specs.len());
    for (index, spec) in specs.iter().enumerate() {
        let own = config.inputs.get(&spec.name).cloned().unwrap_or_default();
        let shape = sample_shape(spec, own.shape.as_deref(), batched.then_some(config.batch_size))?;
        let elements: usize = shape.iter().product();
        let (data, what) = match &own.file {
            Some(file) => (read_file(spec, &shape, elements, &version_dir.join(file))?, format!("file {file}")),
            None => {
                let kind = own.data.unwrap_or(config.data);
                let text = own.bytes_value.as_deref().unwrap_or(&config.bytes_value);
                let seed = 0x9E37_79B9_7F4A_7C15 ^ index as u64;
                let what = match (spec.datatype, kind) {
                    (DataType::Bytes, WarmupData::Zero) => format!("each \"{text}\""),
                    (DataType::Bytes, WarmupData::Random) => "random decimal integers".to_owned(),
                    (_, WarmupData::Zero) => "zeros".to_owned(),
                    (_, WarmupData::Random) => "random values".to_owned(),
                };
                (generate(spec.datatype, elements, kind, text, seed), what)
            }
        };
        described.push(format!("'{}' ({} {shape:?}, {what})", spec.name, spec.datatype));
        inputs.push(Tensor::new(spec.name.clone(), spec.datatype, shape, data));
    }
    Ok(Some(WarmupBatch { inputs, described: described.join(", ") }))
}

/// The model's shape with its dynamic dimensions filled: the batch
/// dimension by `batch`, the others by the configured shape or 1.
fn sample_shape(spec: &TensorSpec, configured: Option<&[i64]>, batch: Option<usize>) -> Result<Vec<usize>, String> {
    if let Some(configured) = configured {
        let fits = configured.len() == spec.shape.len()
            && configured.iter().zip(&spec.shape).all(|(&c, &m)| c > 0 && (m < 0 || c == m));
        if !fits {
            return Err(format!(
                "warmup.inputs.{}.shape {configured:?} does not fit the model's shape {:?}",
                spec.name, spec.shape
            ));
        }
        return Ok(configured.iter().map(|&d| d as usize).collect());
    }
    Ok(spec
        .shape
        .iter()
        .enumerate()
        .map(|(i, &d)| match (i, batch) {
            (0, Some(rows)) if d < 0 => rows,
            _ if d < 0 => 1,
            _ => d as usize,
        })
        .collect())
}

fn read_file(spec: &TensorSpec, shape: &[usize], elements: usize, path: &Path) -> Result<Bytes, String> {
    let data = std::fs::read(path)
        .map_err(|e| format!("warm-up sample for input '{}': cannot read {}: {e}", spec.name, path.display()))?;
    let tensor = Tensor::new(spec.name.clone(), spec.datatype, shape.to_vec(), data.into());
    tensor.check_data(elements.max(1)).map_err(|e| {
        format!("warm-up sample for input '{}' in {} does not fit {shape:?}: {e}", spec.name, path.display())
    })?;
    Ok(tensor.data)
}

/// Zero or pseudo-random data (a fixed seed: warm-up is reproducible).
fn generate(datatype: DataType, elements: usize, kind: WarmupData, bytes_value: &str, seed: u64) -> Bytes {
    let mut state = seed | 1;
    let mut next = move || {
        // xorshift64*: enough for sample data, no dependency.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    match (datatype, kind) {
        (DataType::Bytes, WarmupData::Zero) => {
            let mut out = Vec::with_capacity(elements * (4 + bytes_value.len()));
            (0..elements).for_each(|_| push_string(&mut out, bytes_value.as_bytes()));
            out.into()
        }
        (DataType::Bytes, WarmupData::Random) => {
            let mut out = Vec::with_capacity(elements * 6);
            (0..elements).for_each(|_| push_string(&mut out, (next() % 100).to_string().as_bytes()));
            out.into()
        }
        (_, WarmupData::Zero) => vec![0u8; elements * datatype.element_size().unwrap_or(0)].into(),
        (_, WarmupData::Random) => {
            let mut writer = ElementWriter::new(datatype, elements);
            for _ in 0..elements {
                let value = next();
                let pushed = match datatype {
                    DataType::Bool => writer.push_bool(value & 1 == 1),
                    DataType::Fp16 | DataType::Bf16 | DataType::Fp32 | DataType::Fp64 => {
                        writer.push_f64((value >> 11) as f64 / (1u64 << 53) as f64)
                    }
                    // Small non-negative integers fit every integer type.
                    _ => writer.push_u64(value % 100),
                };
                debug_assert!(pushed.is_ok(), "{datatype} sample");
            }
            writer.finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::string_spans;

    fn metadata(specs: &[(&str, DataType, &[i64])]) -> Vec<TensorSpec> {
        specs
            .iter()
            .map(|(name, datatype, shape)| TensorSpec {
                name: (*name).to_owned(),
                datatype: *datatype,
                shape: shape.to_vec(),
            })
            .collect()
    }

    fn config(toml_text: &str) -> WarmupConfig {
        toml::from_str(toml_text).expect("valid [warmup]")
    }

    #[test]
    fn bytes_inputs_get_a_number_by_default() {
        let model = metadata(&[("INPUT0", DataType::Bytes, &[-1, 16])]);
        let sample =
            warmup_batch(&WarmupConfig::default(), &model, true, Path::new(".")).expect("sample").expect("enabled");
        let tensor = &sample.inputs[0];
        assert_eq!(tensor.shape, vec![1, 16]);
        let spans = string_spans(&tensor.data).expect("BYTES");
        assert_eq!(spans.len(), 16);
        assert!(spans.iter().all(|&(s, e)| &tensor.data[s..e] == b"0"));
        assert!(sample.described.contains("'INPUT0' (BYTES [1, 16], each \"0\")"), "{}", sample.described);
    }

    #[test]
    fn per_input_settings_override_the_section() {
        let model = metadata(&[
            ("a", DataType::Fp32, &[-1, 4]),
            ("b", DataType::Int64, &[-1, -1]),
            ("s", DataType::Bytes, &[2]),
        ]);
        let warmup = config(
            "batch_size = 3\ndata = \"random\"\n[inputs.b]\ndata = \"zero\"\nshape = [3, 5]\n[inputs.s]\nbytes_value = \"7\"\ndata = \"zero\"",
        );
        warmup.check(8).expect("valid");
        let sample = warmup_batch(&warmup, &model, true, Path::new(".")).expect("sample").expect("enabled");
        let [a, b, s] = &sample.inputs[..] else { panic!("three inputs") };
        assert_eq!((a.shape.clone(), b.shape.clone()), (vec![3, 4], vec![3, 5]));
        assert!(a.data.chunks(4).any(|c| c != [0; 4]), "random FP32 is not all zero");
        assert!(b.data.iter().all(|&x| x == 0));
        // A static first dimension is kept: BYTES "7" twice.
        assert_eq!(&s.data[..], &[1, 0, 0, 0, b'7', 1, 0, 0, 0, b'7']);
    }

    #[test]
    fn files_are_read_from_the_version_directory_and_checked() {
        let dir = std::env::temp_dir().join(format!("sluice-warmup-{}", std::process::id()));
        std::fs::create_dir_all(dir.join("warmup")).expect("mkdir");
        std::fs::write(dir.join("warmup/x.bin"), 1.5f32.to_le_bytes().repeat(2)).expect("write");
        let model = metadata(&[("x", DataType::Fp32, &[-1, 2])]);
        let warmup = config("[inputs.x]\nfile = \"warmup/x.bin\"");
        let sample = warmup_batch(&warmup, &model, true, &dir).expect("sample").expect("enabled");
        assert_eq!(sample.inputs[0].data.len(), 8);
        let short = config("batch_size = 2\n[inputs.x]\nfile = \"warmup/x.bin\"");
        let err = warmup_batch(&short, &model, true, &dir).err().expect("too short for 2 rows");
        assert!(err.contains("input 'x'") && err.contains("needs 16 bytes"), "{err}");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn bad_settings_are_refused_with_the_reason() {
        assert!(config("count = 0").check(8).expect_err("count").contains("warmup.count"));
        assert!(config("batch_size = 9").check(8).expect_err("batch").contains("batch_size 9"));
        let escape = config("[inputs.x]\nfile = \"../../etc/passwd\"").check(8).expect_err("escape");
        assert!(escape.contains("relative path inside"), "{escape}");
        let model = metadata(&[("x", DataType::Fp32, &[-1, 2])]);
        let unknown = warmup_batch(&config("[inputs.y]\ndata = \"zero\""), &model, true, Path::new("."));
        assert!(unknown.err().expect("unknown input").contains("warmup.inputs.y"));
        let wrong = warmup_batch(&config("[inputs.x]\nshape = [1, 3]"), &model, true, Path::new("."));
        assert!(wrong.err().expect("shape").contains("does not fit"));
        assert!(!config("enabled = false").enabled);
    }
}
