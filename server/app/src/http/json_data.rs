//! The `data` member of v2 JSON tensors: nested or flat arrays of scalars in,
//! flat arrays out.

use std::fmt;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::ser::{SerializeSeq, Serializer};
use sluice_core::DataType;
use sluice_core::tensor::elements::{Element, ElementError, ElementWriter, for_each_element};

/// One JSON scalar, before the tensor's datatype is applied.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(String),
}

/// `data`, flattened in row-major order whatever its nesting.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct FlatData(pub Vec<Scalar>);

impl FlatData {
    /// Encodes the scalars as `datatype` elements.
    pub fn encode(&self, datatype: DataType) -> Result<(bytes::Bytes, usize), ElementError> {
        let mut writer = ElementWriter::new(datatype, self.0.len());
        for scalar in &self.0 {
            match scalar {
                Scalar::Bool(b) => writer.push_bool(*b)?,
                Scalar::Int(i) => writer.push_i64(*i)?,
                Scalar::Uint(u) => writer.push_u64(*u)?,
                Scalar::Float(f) => writer.push_f64(*f)?,
                Scalar::Str(s) => writer.push_bytes(s.as_bytes())?,
            }
        }
        let count = writer.count();
        Ok((writer.finish(), count))
    }
}

struct FlattenVisitor<'a>(&'a mut Vec<Scalar>);

impl<'de> Visitor<'de> for FlattenVisitor<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array (possibly nested) of numbers, booleans or strings")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<(), E> {
        self.0.push(Scalar::Bool(v));
        Ok(())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.0.push(Scalar::Int(v));
        Ok(())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.0.push(match i64::try_from(v) {
            Ok(i) => Scalar::Int(i),
            Err(_) => Scalar::Uint(v),
        });
        Ok(())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.0.push(Scalar::Float(v));
        Ok(())
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.0.push(Scalar::Str(v.to_owned()));
        Ok(())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        self.0.push(Scalar::Str(v));
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        if let Some(hint) = seq.size_hint() {
            self.0.reserve(hint);
        }
        while seq.next_element_seed(FlattenSeed(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

struct FlattenSeed<'a>(&'a mut Vec<Scalar>);

impl<'de> de::DeserializeSeed<'de> for FlattenSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(FlattenVisitor(self.0))
    }
}

impl<'de> serde::Deserialize<'de> for FlatData {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut out = Vec::new();
        d.deserialize_any(FlattenVisitor(&mut out))?;
        Ok(FlatData(out))
    }
}

/// Serializes a tensor buffer as a flat JSON array of its elements.
pub struct DataView<'a> {
    pub datatype: DataType,
    pub data: &'a [u8],
}

impl serde::Serialize for DataView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        let mut result = Ok(());
        let narrow_float = matches!(self.datatype, DataType::Fp32 | DataType::Fp16 | DataType::Bf16);
        for_each_element(self.datatype, self.data, |e| {
            if result.is_err() {
                return;
            }
            result = match e {
                Element::Bool(b) => seq.serialize_element(&b),
                Element::Int(i) => seq.serialize_element(&i),
                Element::Uint(u) => seq.serialize_element(&u),
                // Shortest text that reads back as the same single-precision value.
                Element::Float(f) if narrow_float => seq.serialize_element(&(f as f32)),
                Element::Float(f) => seq.serialize_element(&f),
                Element::Bytes(b) => seq.serialize_element(&String::from_utf8_lossy(b)),
            };
        });
        result?;
        seq.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_and_flat_data_flatten_alike() {
        let nested: FlatData = serde_json::from_str("[[1, 2], [3, 4.5]]").expect("parses");
        let flat: FlatData = serde_json::from_str("[1, 2, 3, 4.5]").expect("parses");
        assert_eq!(nested, flat);
        let (bytes, count) = nested.encode(DataType::Fp32).expect("fits");
        assert_eq!(count, 4);
        let back = serde_json::to_string(&DataView { datatype: DataType::Fp32, data: &bytes }).expect("serializes");
        assert_eq!(back, "[1.0,2.0,3.0,4.5]");
    }

    #[test]
    fn objects_are_not_data() {
        assert!(serde_json::from_str::<FlatData>("[{\"a\": 1}]").is_err());
        assert!(serde_json::from_str::<FlatData>("[null]").is_err());
    }
}
