//! Triton's classification extension: an output requested with the
//! `classification: k` parameter comes back as a `BYTES` tensor of the k
//! highest values of each batch row, each as `"<value>:<index>[:<label>]"`,
//! with labels from a file named in model.toml's `[labels]`.

use std::collections::BTreeMap;
use std::path::{Component, Path};
use std::sync::Arc;

use bytes::Bytes;
use sluice_kernels::top_k::top_k;

use crate::error::InferError;
use crate::model::TensorSpec;
use crate::serving::request::{ParamValue, Parameters};
use crate::tensor::datatype::DataType;
use crate::tensor::elements::{Element, for_each_element};
use crate::tensor::{Tensor, push_string};

/// The request parameter that asks for classification.
pub const PARAMETER: &str = "classification";

/// Class labels of a model version, by output name: line i of the file is
/// the label of index i.
#[derive(Debug, Clone, Default)]
pub struct Labels(BTreeMap<String, Arc<Vec<String>>>);

impl Labels {
    /// Reads the files `[labels]` names (output → file). A file is looked up
    /// in the version directory first, then in the model directory beside
    /// it, so labels may change with a version or be shared by all.
    pub fn load(files: &BTreeMap<String, String>, outputs: &[TensorSpec], version_dir: &Path) -> Result<Self, String> {
        let mut labels = BTreeMap::new();
        for (output, file) in files {
            if !outputs.iter().any(|o| &o.name == output) {
                let names: Vec<&str> = outputs.iter().map(|o| o.name.as_str()).collect();
                return Err(format!(
                    "[labels] names output '{output}', which the model does not have (it has {names:?})"
                ));
            }
            let relative = Path::new(file);
            if file.is_empty() || relative.components().any(|c| !matches!(c, Component::Normal(_))) {
                return Err(format!("[labels] file '{file}' must be a relative path inside the model's directory"));
            }
            let candidates = [Some(version_dir.join(relative)), version_dir.parent().map(|m| m.join(relative))];
            let found = candidates.into_iter().flatten().find(|p| p.is_file()).ok_or_else(|| {
                format!(
                    "label file '{file}' for output '{output}' is in neither {} nor its parent",
                    version_dir.display()
                )
            })?;
            let text = std::fs::read_to_string(&found).map_err(|e| format!("cannot read {}: {e}", found.display()))?;
            let lines = text.lines().map(|l| l.trim_end_matches('\r').to_owned()).collect();
            labels.insert(output.clone(), Arc::new(lines));
        }
        Ok(Labels(labels))
    }

    pub fn of(&self, output: &str) -> Option<&[String]> {
        self.0.get(output).map(|l| l.as_slice())
    }
}

/// How many classes an output's parameters ask for; `None` for the raw
/// tensor (no parameter, or 0 as in Triton).
pub fn requested_count(output: &str, parameters: &Parameters) -> Result<Option<usize>, InferError> {
    let count = match parameters.get(PARAMETER) {
        None => return Ok(None),
        Some(ParamValue::Int(n)) if *n >= 0 => *n as u64,
        Some(ParamValue::Uint(n)) => *n,
        Some(other) => {
            return Err(InferError::invalid(format!(
                "output '{output}': parameter 'classification' must be a non-negative integer (the number of \
                 classes), got {other:?}"
            )));
        }
    };
    Ok((count > 0).then(|| usize::try_from(count).unwrap_or(usize::MAX)))
}

/// Refuses a `classification` parameter that is malformed or names an
/// output of a type that has no order (BOOL, BYTES).
pub fn check(output: &str, parameters: &Parameters, spec: &TensorSpec) -> Result<(), InferError> {
    if requested_count(output, parameters)?.is_some() && matches!(spec.datatype, DataType::Bool | DataType::Bytes) {
        return Err(InferError::invalid(format!(
            "output '{output}' is {}: classification needs a numeric output",
            spec.datatype
        )));
    }
    Ok(())
}

/// The top `k` classes of every batch row of `tensor` (the whole tensor is
/// one row when the model does not batch), as Triton answers them: shape
/// `[batch, min(k, row)]` or `[min(k, row)]`, values in the output's type.
pub fn classify(tensor: &Tensor, k: usize, batched: bool, labels: Option<&[String]>) -> Result<Tensor, InferError> {
    let values = numbers(tensor)?;
    let rows = if batched && !tensor.shape.is_empty() { tensor.shape[0] } else { 1 };
    let per_row = values.len().checked_div(rows).unwrap_or(0);
    let count = k.min(per_row);
    let mut data = Vec::with_capacity(rows * count * 16);
    for row in values.chunks(per_row.max(1)).take(rows) {
        let indices = match row {
            Row::Int(v) => top_k(v, count),
            Row::Uint(v) => top_k(v, count),
            Row::Float(v) => top_k(v, count),
        };
        for index in indices {
            let mut text = format!("{}:{index}", row.format(index));
            if let Some(label) = labels.and_then(|l| l.get(index)) {
                text.push(':');
                text.push_str(label);
            }
            push_string(&mut data, text.as_bytes());
        }
    }
    let shape = if batched && !tensor.shape.is_empty() { vec![rows, count] } else { vec![count] };
    Ok(Tensor::new(tensor.name.clone(), DataType::Bytes, shape, Bytes::from(data)))
}

/// An output's elements in the type they are compared in.
enum Numbers {
    Int(Vec<i64>),
    Uint(Vec<u64>),
    Float(Vec<f64>),
}

/// A row of `Numbers` borrowed for ranking and formatting.
enum Row<'a> {
    Int(&'a [i64]),
    Uint(&'a [u64]),
    Float(&'a [f64]),
}

impl Numbers {
    fn len(&self) -> usize {
        match self {
            Numbers::Int(v) => v.len(),
            Numbers::Uint(v) => v.len(),
            Numbers::Float(v) => v.len(),
        }
    }

    fn chunks(&self, size: usize) -> Box<dyn Iterator<Item = Row<'_>> + '_> {
        match self {
            Numbers::Int(v) => Box::new(v.chunks(size).map(Row::Int)),
            Numbers::Uint(v) => Box::new(v.chunks(size).map(Row::Uint)),
            Numbers::Float(v) => Box::new(v.chunks(size).map(Row::Float)),
        }
    }
}

impl Row<'_> {
    /// A value as Triton prints it (C++ `std::to_string`: integers in
    /// decimal, floating point with six decimals).
    fn format(&self, index: usize) -> String {
        match self {
            Row::Int(v) => v[index].to_string(),
            Row::Uint(v) => v[index].to_string(),
            Row::Float(v) => {
                let x = v[index];
                if x.is_nan() {
                    if x.is_sign_negative() { "-nan".into() } else { "nan".into() }
                } else if x.is_infinite() {
                    if x > 0.0 { "inf".into() } else { "-inf".into() }
                } else {
                    format!("{x:.6}")
                }
            }
        }
    }
}

fn numbers(tensor: &Tensor) -> Result<Numbers, InferError> {
    let unsupported = || {
        InferError::invalid(format!(
            "output '{}' is {}: classification needs a numeric output",
            tensor.name, tensor.datatype
        ))
    };
    let mut out = match tensor.datatype {
        DataType::Bool | DataType::Bytes => return Err(unsupported()),
        DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => Numbers::Int(Vec::new()),
        DataType::Uint8 | DataType::Uint16 | DataType::Uint32 | DataType::Uint64 => Numbers::Uint(Vec::new()),
        DataType::Fp16 | DataType::Bf16 | DataType::Fp32 | DataType::Fp64 => Numbers::Float(Vec::new()),
    };
    for_each_element(tensor.datatype, &tensor.data, |e| match (&mut out, e) {
        (Numbers::Int(v), Element::Int(x)) => v.push(x),
        (Numbers::Uint(v), Element::Uint(x)) => v.push(x),
        (Numbers::Float(v), Element::Float(x)) => v.push(x),
        _ => {}
    });
    if out.len() != tensor.element_count() {
        return Err(InferError::Backend(format!("output '{}' holds fewer elements than its shape", tensor.name)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tensor::elements::f32_bytes;
    use crate::tensor::string_spans;

    fn strings(t: &Tensor) -> Vec<String> {
        let spans = string_spans(&t.data).expect("BYTES");
        spans.into_iter().map(|(s, e)| String::from_utf8_lossy(&t.data[s..e]).into_owned()).collect()
    }

    fn fp32(shape: Vec<usize>, values: &[f32]) -> Tensor {
        Tensor::new("probabilities", DataType::Fp32, shape, f32_bytes(values))
    }

    #[test]
    fn each_batch_row_gets_its_own_top_k_in_tritons_format() {
        let t = fp32(vec![2, 3], &[0.1, 0.7, 0.2, 0.9, 0.05, 0.05]);
        let out = classify(&t, 2, true, None).expect("numeric");
        assert_eq!((out.datatype, out.shape.clone()), (DataType::Bytes, vec![2, 2]));
        assert_eq!(strings(&out), ["0.700000:1", "0.200000:2", "0.900000:0", "0.050000:1"]);
    }

    #[test]
    fn labels_follow_the_index_and_k_is_capped_at_the_row() {
        let labels = vec!["legitimate".to_owned(), "fraud".to_owned()];
        let t = fp32(vec![1, 2], &[0.41947192, 0.58052814]);
        let out = classify(&t, 5, true, Some(&labels)).expect("numeric");
        assert_eq!(out.shape, vec![1, 2]);
        assert_eq!(strings(&out), ["0.580528:1:fraud", "0.419472:0:legitimate"]);
        let short = vec!["only".to_owned()];
        assert_eq!(strings(&classify(&t, 2, true, Some(&short)).expect("ok")), ["0.580528:1", "0.419472:0:only"]);
    }

    #[test]
    fn without_batching_the_whole_tensor_is_one_row() {
        let t =
            Tensor::new("y", DataType::Int32, vec![2, 2], Bytes::from([3i32, -1, 7, 0].map(i32::to_le_bytes).concat()));
        let out = classify(&t, 3, false, None).expect("numeric");
        assert_eq!(out.shape, vec![3]);
        assert_eq!(strings(&out), ["7:2", "3:0", "0:3"]);
    }

    #[test]
    fn strings_and_booleans_cannot_be_classified() {
        let t = Tensor::new("b", DataType::Bool, vec![1, 2], Bytes::from_static(&[0, 1]));
        let err = classify(&t, 1, true, None).expect_err("bool");
        assert!(matches!(err, InferError::InvalidInput(_)), "{err:?}");
    }

    #[test]
    fn the_parameter_must_be_a_non_negative_integer() {
        let with = |v: ParamValue| Parameters::from([(PARAMETER.to_owned(), v)]);
        assert_eq!(requested_count("y", &Parameters::new()).expect("absent"), None);
        assert_eq!(requested_count("y", &with(ParamValue::Int(0))).expect("zero"), None);
        assert_eq!(requested_count("y", &with(ParamValue::Int(3))).expect("int"), Some(3));
        assert_eq!(requested_count("y", &with(ParamValue::Uint(2))).expect("uint"), Some(2));
        for bad in [ParamValue::Int(-1), ParamValue::Str("2".into()), ParamValue::Double(2.0), ParamValue::Bool(true)] {
            assert!(requested_count("y", &with(bad.clone())).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn label_files_resolve_in_the_version_then_the_model_directory() {
        let root = std::env::temp_dir().join(format!("sluice-labels-{}", std::process::id()));
        let version = root.join("1");
        std::fs::create_dir_all(&version).expect("dirs");
        std::fs::write(root.join("labels.txt"), "cat\r\ndog\n").expect("write");
        let outputs = [TensorSpec { name: "y".into(), datatype: DataType::Fp32, shape: vec![-1, 2] }];
        let files = BTreeMap::from([("y".to_owned(), "labels.txt".to_owned())]);
        let labels = Labels::load(&files, &outputs, &version).expect("found in the model directory");
        assert_eq!(labels.of("y"), Some(&["cat".to_owned(), "dog".to_owned()][..]));
        std::fs::write(version.join("labels.txt"), "tabby\n").expect("write");
        let labels = Labels::load(&files, &outputs, &version).expect("found in the version directory");
        assert_eq!(labels.of("y"), Some(&["tabby".to_owned()][..]));
        let unknown = BTreeMap::from([("z".to_owned(), "labels.txt".to_owned())]);
        assert!(Labels::load(&unknown, &outputs, &version).expect_err("no output z").contains("'z'"));
        let escape = BTreeMap::from([("y".to_owned(), "../labels.txt".to_owned())]);
        assert!(Labels::load(&escape, &outputs, &version).is_err());
        let missing = BTreeMap::from([("y".to_owned(), "none.txt".to_owned())]);
        assert!(Labels::load(&missing, &outputs, &version).expect_err("missing").contains("none.txt"));
        let _ = std::fs::remove_dir_all(&root);
    }
}
