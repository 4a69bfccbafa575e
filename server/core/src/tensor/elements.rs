//! Typed element values to and from tensor byte buffers, with range checks.
//!
//! Both transports use this: JSON `data` arrays and gRPC typed `contents`
//! arrive as typed values and leave the same way.

use bytes::Bytes;
use half::{bf16, f16};

use crate::tensor::datatype::DataType;
use crate::tensor::{push_string, string_spans};

/// A value that cannot be stored as an element of the target datatype.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("element {index}: {value} is not a valid {datatype} value")]
pub struct ElementError {
    pub index: usize,
    pub value: String,
    pub datatype: DataType,
}

/// Builds a tensor buffer one typed element at a time.
pub struct ElementWriter {
    datatype: DataType,
    buf: Vec<u8>,
    count: usize,
}

impl ElementWriter {
    pub fn new(datatype: DataType, capacity: usize) -> Self {
        let bytes = datatype.element_size().unwrap_or(8) * capacity;
        ElementWriter { datatype, buf: Vec::with_capacity(bytes), count: 0 }
    }

    pub fn count(&self) -> usize {
        self.count
    }

    fn reject(&self, value: impl ToString) -> ElementError {
        ElementError { index: self.count, value: value.to_string(), datatype: self.datatype }
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), ElementError> {
        self.buf.extend_from_slice(bytes);
        self.count += 1;
        Ok(())
    }

    pub fn push_bool(&mut self, v: bool) -> Result<(), ElementError> {
        match self.datatype {
            DataType::Bool => self.put(&[v as u8]),
            _ => Err(self.reject(v)),
        }
    }

    pub fn push_i64(&mut self, v: i64) -> Result<(), ElementError> {
        let bad = || self.reject(v);
        match self.datatype {
            DataType::Int8 => self.put(&i8::try_from(v).map_err(|_| bad())?.to_le_bytes()),
            DataType::Int16 => self.put(&i16::try_from(v).map_err(|_| bad())?.to_le_bytes()),
            DataType::Int32 => self.put(&i32::try_from(v).map_err(|_| bad())?.to_le_bytes()),
            DataType::Int64 => self.put(&v.to_le_bytes()),
            DataType::Uint8 | DataType::Uint16 | DataType::Uint32 | DataType::Uint64 => match u64::try_from(v) {
                Ok(u) => self.push_u64(u),
                Err(_) => Err(bad()),
            },
            DataType::Fp16 | DataType::Bf16 | DataType::Fp32 | DataType::Fp64 => self.push_f64(v as f64),
            DataType::Bool | DataType::Bytes => Err(bad()),
        }
    }

    pub fn push_u64(&mut self, v: u64) -> Result<(), ElementError> {
        let bad = || self.reject(v);
        match self.datatype {
            DataType::Uint8 => self.put(&u8::try_from(v).map_err(|_| bad())?.to_le_bytes()),
            DataType::Uint16 => self.put(&u16::try_from(v).map_err(|_| bad())?.to_le_bytes()),
            DataType::Uint32 => self.put(&u32::try_from(v).map_err(|_| bad())?.to_le_bytes()),
            DataType::Uint64 => self.put(&v.to_le_bytes()),
            DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => match i64::try_from(v) {
                Ok(i) => self.push_i64(i),
                Err(_) => Err(bad()),
            },
            DataType::Fp16 | DataType::Bf16 | DataType::Fp32 | DataType::Fp64 => self.push_f64(v as f64),
            DataType::Bool | DataType::Bytes => Err(bad()),
        }
    }

    pub fn push_f64(&mut self, v: f64) -> Result<(), ElementError> {
        match self.datatype {
            DataType::Fp16 => self.put(&f16::from_f64(v).to_le_bytes()),
            DataType::Bf16 => self.put(&bf16::from_f64(v).to_le_bytes()),
            DataType::Fp32 => self.put(&(v as f32).to_le_bytes()),
            DataType::Fp64 => self.put(&v.to_le_bytes()),
            _ => Err(self.reject(v)),
        }
    }

    /// Single-precision values keep their exact bits for FP32.
    pub fn push_f32(&mut self, v: f32) -> Result<(), ElementError> {
        match self.datatype {
            DataType::Fp32 => self.put(&v.to_le_bytes()),
            _ => self.push_f64(v as f64),
        }
    }

    pub fn push_bytes(&mut self, v: &[u8]) -> Result<(), ElementError> {
        match self.datatype {
            DataType::Bytes => {
                push_string(&mut self.buf, v);
                self.count += 1;
                Ok(())
            }
            _ => Err(self.reject(format!("\"{}\"", String::from_utf8_lossy(v)))),
        }
    }

    pub fn finish(self) -> Bytes {
        Bytes::from(self.buf)
    }
}

/// One element read back out of a tensor buffer.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Element<'a> {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Bytes(&'a [u8]),
}

/// Calls `f` with every element of a buffer of `datatype`, in order.
/// A `BYTES` buffer that is not well formed yields no elements past the fault.
pub fn for_each_element<'a>(datatype: DataType, data: &'a [u8], mut f: impl FnMut(Element<'a>)) {
    macro_rules! each {
        ($n:literal, $conv:expr) => {
            for chunk in data.chunks_exact($n) {
                let arr: [u8; $n] = chunk.try_into().unwrap_or([0; $n]);
                f($conv(arr));
            }
        };
    }
    match datatype {
        DataType::Bool => data.iter().for_each(|&b| f(Element::Bool(b != 0))),
        DataType::Uint8 => data.iter().for_each(|&b| f(Element::Uint(b as u64))),
        DataType::Int8 => data.iter().for_each(|&b| f(Element::Int(b as i8 as i64))),
        DataType::Uint16 => each!(2, |a| Element::Uint(u16::from_le_bytes(a) as u64)),
        DataType::Int16 => each!(2, |a| Element::Int(i16::from_le_bytes(a) as i64)),
        DataType::Uint32 => each!(4, |a| Element::Uint(u32::from_le_bytes(a) as u64)),
        DataType::Int32 => each!(4, |a| Element::Int(i32::from_le_bytes(a) as i64)),
        DataType::Uint64 => each!(8, |a| Element::Uint(u64::from_le_bytes(a))),
        DataType::Int64 => each!(8, |a| Element::Int(i64::from_le_bytes(a))),
        DataType::Fp16 => each!(2, |a| Element::Float(f16::from_le_bytes(a).to_f64())),
        DataType::Bf16 => each!(2, |a| Element::Float(bf16::from_le_bytes(a).to_f64())),
        DataType::Fp32 => each!(4, |a| Element::Float(f32::from_le_bytes(a) as f64)),
        DataType::Fp64 => each!(8, |a| Element::Float(f64::from_le_bytes(a))),
        DataType::Bytes => {
            if let Ok(spans) = string_spans(data) {
                for (start, end) in spans {
                    f(Element::Bytes(&data[start..end]));
                }
            }
        }
    }
}

/// Reads an FP32 buffer into floats (used by tests and the candle backend).
pub fn f32_values(data: &[u8]) -> Vec<f32> {
    data.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Writes floats as an FP32 buffer.
pub fn f32_bytes(values: &[f32]) -> Bytes {
    Bytes::from(values.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_datatype_round_trips() {
        for dt in DataType::ALL {
            let mut w = ElementWriter::new(dt, 2);
            match dt {
                DataType::Bool => w.push_bool(true).and(w.push_bool(false)),
                DataType::Bytes => w.push_bytes(b"hi").and(w.push_bytes(b"")),
                DataType::Int8 | DataType::Int16 | DataType::Int32 | DataType::Int64 => {
                    w.push_i64(-3).and(w.push_i64(7))
                }
                DataType::Uint8 | DataType::Uint16 | DataType::Uint32 | DataType::Uint64 => {
                    w.push_u64(3).and(w.push_u64(7))
                }
                _ => w.push_f64(-1.5).and(w.push_f64(2.25)),
            }
            .expect("values fit");
            let data = w.finish();
            let mut seen = Vec::new();
            for_each_element(dt, &data, |e| seen.push(format!("{e:?}")));
            assert_eq!(seen.len(), 2, "{dt}");
        }
    }

    #[test]
    fn out_of_range_values_are_refused() {
        let mut w = ElementWriter::new(DataType::Uint8, 1);
        assert!(w.push_i64(-1).is_err());
        assert!(w.push_u64(256).is_err());
        let mut w = ElementWriter::new(DataType::Int8, 1);
        assert!(w.push_i64(128).is_err());
        assert!(w.push_f64(1.5).is_err());
        let mut w = ElementWriter::new(DataType::Fp32, 1);
        assert!(w.push_bytes(b"x").is_err());
        assert!(w.push_bool(true).is_err());
    }
}
