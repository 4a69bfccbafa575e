//! Core responses -> v1 answer bodies (`predictions` or `outputs`).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use sluice_core::tensor::elements::{Element, for_each_element};
use sluice_core::{DataType, InferError, InferResponse, Tensor};

use super::Layout;

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
