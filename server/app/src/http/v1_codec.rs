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
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value};
use sluice_core::elements::{Element, ElementWriter, for_each_element};
use sluice_core::tensor::element_count;
use sluice_core::{DataType, InferError, InferRequest, InferResponse, Parameters, Tensor, TensorSpec};

use super::decode::DecodeLimits;
use super::json_data::{FlatData, Scalar};
use super::json_depth::exceeds_depth;

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

/// Nested arrays of scalars, flattened, with the length seen at each depth:
/// a regular nesting has one length per depth and every scalar at the same
/// depth.
#[derive(Default)]
struct ShapedData {
    values: FlatData,
    dims: Vec<Option<usize>>,
    leaf_depth: Option<usize>,
    regular: bool,
}

impl ShapedData {
    fn shape(&self) -> Option<Vec<usize>> {
        if !self.regular || self.leaf_depth != Some(self.dims.len()) {
            return None;
        }
        self.dims.iter().copied().collect()
    }

    fn has_strings(&self) -> bool {
        self.values.0.iter().any(|s| matches!(s, Scalar::Str(_)))
    }

    fn leaf(&mut self, depth: usize, scalar: Scalar) {
        self.regular &= *self.leaf_depth.get_or_insert(depth) == depth;
        self.values.0.push(scalar);
    }
}

impl<'de> serde::Deserialize<'de> for ShapedData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = ShapedData { regular: true, ..Default::default() };
        d.deserialize_any(ShapeVisitor { out: &mut out, depth: 0 })?;
        Ok(out)
    }
}

struct ShapeVisitor<'a> {
    out: &'a mut ShapedData,
    depth: usize,
}

impl<'de> serde::de::Visitor<'de> for ShapeVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("nested arrays of numbers")
    }

    fn visit_bool<E>(self, v: bool) -> Result<(), E> {
        self.out.leaf(self.depth, Scalar::Bool(v));
        Ok(())
    }

    fn visit_i64<E>(self, v: i64) -> Result<(), E> {
        self.out.leaf(self.depth, Scalar::Int(v));
        Ok(())
    }

    fn visit_u64<E>(self, v: u64) -> Result<(), E> {
        let scalar = i64::try_from(v).map_or(Scalar::Uint(v), Scalar::Int);
        self.out.leaf(self.depth, scalar);
        Ok(())
    }

    fn visit_f64<E>(self, v: f64) -> Result<(), E> {
        self.out.leaf(self.depth, Scalar::Float(v));
        Ok(())
    }

    fn visit_str<E>(self, v: &str) -> Result<(), E> {
        self.out.leaf(self.depth, Scalar::Str(v.to_owned()));
        Ok(())
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let depth = self.depth;
        let mut count = 0usize;
        while seq.next_element_seed(ShapeSeed { out: &mut *self.out, depth: depth + 1 })?.is_some() {
            count += 1;
        }
        // Inner arrays finish first: lengths are kept by depth.
        if self.out.dims.len() <= depth {
            self.out.dims.resize(depth + 1, None);
        }
        match self.out.dims[depth] {
            Some(seen) => self.out.regular &= seen == count,
            None => self.out.dims[depth] = Some(count),
        }
        Ok(())
    }
}

struct ShapeSeed<'a> {
    out: &'a mut ShapedData,
    depth: usize,
}

impl<'de> serde::de::DeserializeSeed<'de> for ShapeSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(ShapeVisitor { out: self.out, depth: self.depth })
    }
}

/// A tensor (or one row of it) as nested JSON arrays, each element written
/// the way the v2 JSON answer writes it.
struct Nested<'a> {
    elements: &'a [Element<'a>],
    dims: &'a [usize],
    datatype: DataType,
}

impl serde::Serialize for Nested<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Some((&outer, inner)) = self.dims.split_first() else {
            return match self.elements.first() {
                Some(element) => serialize_element(*element, self.datatype, s),
                None => s.serialize_unit(),
            };
        };
        let step: usize = inner.iter().product();
        let mut seq = s.serialize_seq(Some(outer))?;
        for i in 0..outer {
            let elements = self.elements.get(i * step..(i + 1) * step).unwrap_or_default();
            seq.serialize_element(&Nested { elements, dims: inner, datatype: self.datatype })?;
        }
        seq.end()
    }
}

fn serialize_element<S: Serializer>(element: Element<'_>, datatype: DataType, s: S) -> Result<S::Ok, S::Error> {
    let narrow_float = matches!(datatype, DataType::Fp32 | DataType::Fp16 | DataType::Bf16);
    match element {
        Element::Bool(b) => s.serialize_bool(b),
        Element::Int(i) => s.serialize_i64(i),
        Element::Uint(u) => s.serialize_u64(u),
        Element::Float(f) if narrow_float => s.serialize_f32(f as f32),
        Element::Float(f) => s.serialize_f64(f),
        Element::Bytes(b) => match std::str::from_utf8(b) {
            Ok(text) => s.serialize_str(text),
            Err(_) => {
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry("b64", &BASE64.encode(b))?;
                map.end()
            }
        },
    }
}

/// One output's elements, shape and datatype.
struct Output<'a> {
    name: &'a str,
    elements: Vec<Element<'a>>,
    shape: &'a [usize],
    datatype: DataType,
}

impl<'a> Output<'a> {
    fn of(tensor: &'a Tensor) -> Self {
        let mut elements = Vec::with_capacity(tensor.element_count());
        for_each_element(tensor.datatype, &tensor.data, |e| elements.push(e));
        Output { name: &tensor.name, elements, shape: &tensor.shape, datatype: tensor.datatype }
    }

    fn whole(&self) -> Nested<'_> {
        Nested { elements: &self.elements, dims: self.shape, datatype: self.datatype }
    }

    fn row(&self, i: usize) -> Nested<'_> {
        let inner = self.shape.get(1..).unwrap_or_default();
        let step: usize = inner.iter().product();
        let elements = self.elements.get(i * step..(i + 1) * step).unwrap_or_default();
        Nested { elements, dims: inner, datatype: self.datatype }
    }
}

struct Predictions<'a>(&'a [Output<'a>], usize);

impl serde::Serialize for Predictions<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let Predictions(outputs, rows) = self;
        let mut seq = s.serialize_seq(Some(*rows))?;
        for i in 0..*rows {
            match outputs {
                [only] => seq.serialize_element(&only.row(i))?,
                several => seq.serialize_element(&RowObject(several, i))?,
            }
        }
        seq.end()
    }
}

struct RowObject<'a>(&'a [Output<'a>], usize);

impl serde::Serialize for RowObject<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for output in self.0 {
            map.serialize_entry(output.name, &output.row(self.1))?;
        }
        map.end()
    }
}

struct Columns<'a>(&'a [Output<'a>]);

impl serde::Serialize for Columns<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if let [only] = self.0 {
            return only.whole().serialize(s);
        }
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for output in self.0 {
            map.serialize_entry(output.name, &output.whole())?;
        }
        map.end()
    }
}

/// The v1 answer body in the request's layout.
pub fn encode(response: &InferResponse, layout: Layout) -> Result<Vec<u8>, InferError> {
    let outputs: Vec<Output<'_>> = response.outputs.iter().map(Output::of).collect();
    let mut body = Vec::with_capacity(64 + 16 * outputs.iter().map(|o| o.elements.len()).sum::<usize>());
    let mut json = serde_json::Serializer::new(&mut body);
    let written = match layout {
        Layout::Rows => {
            let rows = outputs.first().and_then(|o| o.shape.first()).copied().unwrap_or(0);
            let mut map = json.serialize_map(Some(1)).map_err(encode_error)?;
            map.serialize_entry("predictions", &Predictions(&outputs, rows)).map_err(encode_error)?;
            SerializeMap::end(map)
        }
        Layout::Columns => {
            let mut map = json.serialize_map(Some(1)).map_err(encode_error)?;
            map.serialize_entry("outputs", &Columns(&outputs)).map_err(encode_error)?;
            SerializeMap::end(map)
        }
    };
    written.map_err(encode_error)?;
    Ok(body)
}

fn encode_error(e: serde_json::Error) -> InferError {
    InferError::Backend(format!("cannot encode the predict response: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: DecodeLimits = DecodeLimits { max_elements: 1 << 20, max_json_depth: 100 };

    fn spec(name: &str, datatype: DataType, shape: &[i64]) -> TensorSpec {
        TensorSpec { name: name.into(), datatype, shape: shape.to_vec() }
    }

    fn run(body: &str, specs: &[TensorSpec]) -> Result<(InferRequest, Layout), InferError> {
        decode(body.as_bytes(), "m".into(), None, specs, LIMITS)
    }

    #[test]
    fn rows_and_columns_for_one_and_several_inputs() {
        let one = [spec("x", DataType::Fp32, &[-1, 2])];
        let (request, layout) = run(r#"{"instances": [[1, 2], [3, 4.5]]}"#, &one).expect("rows");
        assert_eq!((layout, request.inputs[0].shape.clone()), (Layout::Rows, vec![2, 2]));
        let (columns, layout) =
            run(r#"{"signature_name": "serving_default", "inputs": [[1, 2]]}"#, &one).expect("cols");
        assert_eq!((layout, columns.inputs[0].shape.clone()), (Layout::Columns, vec![1, 2]));
        let two = [spec("a", DataType::Int64, &[-1]), spec("s", DataType::Bytes, &[-1])];
        let (request, _) =
            run(r#"{"instances": [{"a": 1, "s": "x"}, {"s": {"b64": "eXo="}, "a": 2}]}"#, &two).expect("keyed");
        assert_eq!(request.inputs[0].shape, vec![2]);
        assert_eq!(&request.inputs[1].data[..], b"\x01\0\0\0x\x02\0\0\0yz");
        let (request, _) = run(r#"{"inputs": {"a": [1, 2, 3], "s": ["p", "q", "r"]}}"#, &two).expect("keyed cols");
        assert_eq!(request.inputs[1].shape, vec![3]);
    }

    #[test]
    fn the_fast_path_reads_regular_numbers_and_leaves_the_rest() {
        let spec = spec("x", DataType::Fp32, &[-1, 2]);
        let (tensor, layout) = fast_numeric(br#"{"instances": [[1, 2], [3, 4.5]]}"#, &spec, 100).expect("fast");
        assert_eq!((tensor.shape, layout), (vec![2, 2], Layout::Rows));
        let (tensor, layout) = fast_numeric(br#"{"inputs": [[[1], [2]]]}"#, &spec, 100).expect("fast columns");
        assert_eq!((tensor.shape, layout), (vec![1, 2, 1], Layout::Columns));
        for slow in [
            r#"{"instances": [[1, 2], [3]]}"#,
            r#"{"instances": [[1, 2], [3, [4]]]}"#,
            r#"{"instances": [{"x": [1, 2]}]}"#,
            r#"{"instances": [["a", "b"]]}"#,
            r#"{"instances": []}"#,
            r#"{"instances": [[1, 2]], "other": 1}"#,
        ] {
            assert!(fast_numeric(slow.as_bytes(), &spec, 100).is_none(), "{slow}");
        }
    }

    #[test]
    fn explains_each_mistake() {
        let one = [spec("x", DataType::Fp32, &[-1, 2])];
        let two = [spec("a", DataType::Int64, &[-1]), spec("b", DataType::Int64, &[-1])];
        let cases: [(&str, &[TensorSpec], &str); 9] = [
            (r#"{"instances": [[1, 2], [3]]}"#, &one, "ragged"),
            (r#"{"instances": [["a", "b"]]}"#, &one, "expects FP32 values"),
            (r#"{"instances": []}"#, &one, "is empty"),
            (r#"{"instances": [[1, 2]], "inputs": [[1, 2]]}"#, &one, "not both"),
            (r#"{"rows": []}"#, &one, "needs \"instances\""),
            (r#"{"instances": [[1, 2]], "extra": 1}"#, &one, "unknown member"),
            (r#"{"instances": [{"a": 1}]}"#, &two, "no value for input 'b'"),
            (r#"{"instances": [{"a": 1, "b": 2, "c": 3}]}"#, &two, "'c', which is not an input"),
            (r#"{"instances": [1, 2]}"#, &two, "must be an object keyed by input name"),
        ];
        for (body, specs, want) in cases {
            let err = run(body, specs).expect_err(body);
            assert!(matches!(err, InferError::InvalidInput(_)), "{body}");
            assert!(err.to_string().contains(want), "{body}: {err}");
        }
    }

    #[test]
    fn answers_in_the_request_layout() {
        let tensor = |name: &str, values: &[f32]| {
            let data = values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>();
            Tensor::new(name, DataType::Fp32, vec![2, values.len() / 2], data.into())
        };
        let response = |outputs| InferResponse { model_name: "m".into(), model_version: 1, id: None, outputs };
        let one = response(vec![tensor("p", &[0.1, 0.9, 0.5, 0.5])]);
        let text = |layout| String::from_utf8(encode(&one, layout).expect("encodes")).expect("utf-8");
        assert_eq!(text(Layout::Rows), r#"{"predictions":[[0.1,0.9],[0.5,0.5]]}"#);
        assert_eq!(text(Layout::Columns), r#"{"outputs":[[0.1,0.9],[0.5,0.5]]}"#);
        let two = response(vec![tensor("p", &[1.0, 2.0]), tensor("q", &[3.0, 4.0])]);
        let rows = String::from_utf8(encode(&two, Layout::Rows).expect("encodes")).expect("utf-8");
        assert_eq!(rows, r#"{"predictions":[{"p":[1.0],"q":[3.0]},{"p":[2.0],"q":[4.0]}]}"#);
    }
}
