//! KServe v1 (TensorFlow Serving's predict API) bodies <-> core requests.
//!
//! In: `{"instances": [...]}` (row format: one row per instance; for a
//! one-input model the row itself, otherwise an object keyed by input name)
//! or `{"inputs": ...}` (columnar: the whole batch, keyed by input name when
//! the model has several). BYTES values are strings or `{"b64": "..."}`.
//! Datatypes and names come from the model's metadata.
//! Out: `{"predictions": [...]}` for rows (one output: its row; several: an
//! object per row keyed by output name), `{"outputs": ...}` for columns.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Map, Value};
use sluice_core::tensor::element_count;
use sluice_core::tensor::elements::ElementWriter;
use sluice_core::{DataType, InferError, InferRequest, Parameters, Tensor, TensorSpec};

use super::decode::DecodeLimits;
use super::json_depth::exceeds_depth;
use shaped::ShapedData;

mod encode;
mod shaped;
#[cfg(test)]
mod tests;

pub use encode::encode;

/// Which of TF Serving's two request formats a request used; the answer
/// uses the matching one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    Rows,
    Columns,
}

fn invalid(why: impl Into<String>) -> InferError {
    InferError::invalid(why.into())
}

/// Decodes a v1 predict body for a model with these inputs.
pub fn decode(
    body: &[u8],
    model: String,
    version: Option<u64>,
    specs: &[TensorSpec],
    limits: DecodeLimits,
) -> Result<(InferRequest, Layout), InferError> {
    if exceeds_depth(body, limits.max_json_depth) {
        return Err(invalid(format!(
            "the request JSON nests deeper than {} levels (--max-json-depth)",
            limits.max_json_depth
        )));
    }
    if let [spec] = specs
        && let Some(decoded) = fast_numeric(body, spec, limits.max_elements)
    {
        let (tensor, layout) = decoded;
        return Ok((request(model, version, vec![tensor]), layout));
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| invalid(format!("malformed predict request JSON: {e}")))?;
    let Value::Object(mut top) = value else {
        return Err(invalid("a predict request is a JSON object with \"instances\" or \"inputs\""));
    };
    // TF Serving's signature_name selects a signature of a SavedModel; ONNX
    // and candle models have exactly one, so it is accepted and ignored.
    top.remove("signature_name");
    let (layout, payload) = match (top.remove("instances"), top.remove("inputs")) {
        (Some(instances), None) => (Layout::Rows, instances),
        (None, Some(inputs)) => (Layout::Columns, inputs),
        (Some(_), Some(_)) => {
            return Err(invalid("give either \"instances\" (rows) or \"inputs\" (columns), not both"));
        }
        (None, None) => return Err(invalid("a predict request needs \"instances\" (rows) or \"inputs\" (columns)")),
    };
    if let Some(other) = top.keys().next() {
        return Err(invalid(format!("unknown member \"{other}\" in the predict request")));
    }
    let per_input = match layout {
        Layout::Rows => rows_by_input(payload, specs)?,
        Layout::Columns => columns_by_input(payload, specs)?,
    };
    let inputs = specs
        .iter()
        .zip(per_input)
        .map(|(spec, value)| tensor(spec, &value, layout, limits.max_elements))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((request(model, version, inputs), layout))
}

fn request(model: String, version: Option<u64>, inputs: Vec<Tensor>) -> InferRequest {
    InferRequest {
        model_name: model,
        model_version: version,
        id: None,
        parameters: Parameters::default(),
        inputs,
        outputs: Vec::new(),
        timeout: None,
    }
}

/// The common case without building a JSON tree: a one-input model with
/// plain numbers (or booleans) in `instances` or `inputs`. None sends the
/// body down the general path, which also words any error.
fn fast_numeric(body: &[u8], spec: &TensorSpec, max_elements: usize) -> Option<(Tensor, Layout)> {
    if spec.datatype == DataType::Bytes {
        return None;
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Plain {
        #[serde(default)]
        instances: Option<ShapedData>,
        #[serde(default)]
        inputs: Option<ShapedData>,
        #[allow(dead_code)]
        #[serde(default)]
        signature_name: Option<serde::de::IgnoredAny>,
    }
    let plain: Plain = serde_json::from_slice(body).ok()?;
    let (data, layout) = match (plain.instances, plain.inputs) {
        (Some(data), None) => (data, Layout::Rows),
        (None, Some(data)) => (data, Layout::Columns),
        _ => return None,
    };
    let shape = data.shape()?;
    if shape.first().is_none_or(|&rows| rows == 0) || data.has_strings() {
        return None;
    }
    element_count(&shape, max_elements).ok()?;
    let (bytes, _) = data.values.encode(spec.datatype).ok()?;
    Some((Tensor::new(spec.name.clone(), spec.datatype, shape, bytes), layout))
}

/// `{"b64": "..."}`: one BYTES value.
fn is_b64(value: &Value) -> bool {
    matches!(value, Value::Object(map) if map.len() == 1 && map.contains_key("b64"))
}

/// For each input (in the model's order), the array of its rows.
fn rows_by_input(instances: Value, specs: &[TensorSpec]) -> Result<Vec<Value>, InferError> {
    let Value::Array(rows) = instances else { return Err(invalid("\"instances\" must be a list of rows")) };
    if rows.is_empty() {
        return Err(invalid("\"instances\" is empty: send at least one row"));
    }
    let keyed = rows.iter().all(|r| r.is_object() && !is_b64(r));
    if let ([_], false) = (specs, keyed) {
        return Ok(vec![Value::Array(rows)]);
    }
    if !keyed {
        return Err(invalid(format!(
            "the model has {} inputs ({}): each instance must be an object keyed by input name",
            specs.len(),
            names(specs)
        )));
    }
    let mut columns: Vec<Vec<Value>> = specs.iter().map(|_| Vec::with_capacity(rows.len())).collect();
    for (i, row) in rows.into_iter().enumerate() {
        let Value::Object(mut row) = row else { unreachable!("checked above") };
        for (spec, column) in specs.iter().zip(&mut columns) {
            let value = row.remove(&spec.name).ok_or_else(|| {
                invalid(format!("instance {i} has no value for input '{}' (inputs: {})", spec.name, names(specs)))
            })?;
            column.push(value);
        }
        if let Some(extra) = row.keys().next() {
            return Err(invalid(format!("instance {i} names '{extra}', which is not an input ({})", names(specs))));
        }
    }
    Ok(columns.into_iter().map(Value::Array).collect())
}

/// For each input (in the model's order), its whole batch.
fn columns_by_input(inputs: Value, specs: &[TensorSpec]) -> Result<Vec<Value>, InferError> {
    match inputs {
        Value::Object(map) if !(map.len() == 1 && map.contains_key("b64")) => keyed_columns(map, specs),
        other if specs.len() == 1 => Ok(vec![other]),
        _ => Err(invalid(format!(
            "the model has {} inputs ({}): \"inputs\" must be an object keyed by input name",
            specs.len(),
            names(specs)
        ))),
    }
}

fn keyed_columns(mut map: Map<String, Value>, specs: &[TensorSpec]) -> Result<Vec<Value>, InferError> {
    let columns = specs
        .iter()
        .map(|spec| {
            map.remove(&spec.name)
                .ok_or_else(|| invalid(format!("\"inputs\" has no value for input '{}' ({})", spec.name, names(specs))))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(extra) = map.keys().next() {
        return Err(invalid(format!("\"inputs\" names '{extra}', which is not an input ({})", names(specs))));
    }
    Ok(columns)
}

fn names(specs: &[TensorSpec]) -> String {
    specs.iter().map(|s| format!("'{}'", s.name)).collect::<Vec<_>>().join(", ")
}

/// The shape of a regular nested array and its leaves in row-major order;
/// ragged nesting is an error.
fn regular<'a>(value: &'a Value, leaves: &mut Vec<&'a Value>) -> Result<Vec<usize>, String> {
    match value {
        Value::Array(items) => {
            let mut inner: Option<Vec<usize>> = None;
            for (i, item) in items.iter().enumerate() {
                let shape = regular(item, leaves)?;
                match &inner {
                    Some(first) if *first != shape => {
                        return Err(format!("ragged: element {i} has shape {shape:?}, element 0 has {first:?}"));
                    }
                    Some(_) => {}
                    None => inner = Some(shape),
                }
            }
            let mut shape = vec![items.len()];
            shape.extend(inner.unwrap_or_default());
            Ok(shape)
        }
        leaf => {
            leaves.push(leaf);
            Ok(Vec::new())
        }
    }
}

fn tensor(spec: &TensorSpec, value: &Value, layout: Layout, max_elements: usize) -> Result<Tensor, InferError> {
    let name = &spec.name;
    let mut leaves = Vec::new();
    let shape = regular(value, &mut leaves).map_err(|why| invalid(format!("input '{name}': {why}")))?;
    if layout == Layout::Columns && shape.is_empty() {
        return Err(invalid(format!("input '{name}': \"inputs\" must hold the whole batch as a list")));
    }
    element_count(&shape, max_elements).map_err(|e| invalid(format!("input '{name}': {e}")))?;
    let mut writer = ElementWriter::new(spec.datatype, leaves.len());
    for leaf in leaves {
        let pushed = match (leaf, spec.datatype) {
            (Value::Bool(b), _) => writer.push_bool(*b),
            (Value::Number(n), _) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
                (Some(i), _, _) => writer.push_i64(i),
                (None, Some(u), _) => writer.push_u64(u),
                (_, _, Some(f)) => writer.push_f64(f),
                _ => return Err(invalid(format!("input '{name}': {n} is not a number sluice can read"))),
            },
            (Value::String(s), DataType::Bytes) => writer.push_bytes(s.as_bytes()),
            (object @ Value::Object(map), DataType::Bytes) if is_b64(object) => {
                let encoded = map.get("b64").and_then(Value::as_str).unwrap_or_default();
                let bytes = BASE64
                    .decode(encoded)
                    .map_err(|e| invalid(format!("input '{name}': a {{\"b64\": ...}} value is not base64: {e}")))?;
                writer.push_bytes(&bytes)
            }
            (other, datatype) => {
                return Err(invalid(format!("input '{name}' expects {datatype} values, got {other}")));
            }
        };
        pushed.map_err(|e| invalid(format!("input '{name}': {e}")))?;
    }
    Ok(Tensor::new(name.clone(), spec.datatype, shape, writer.finish()))
}
