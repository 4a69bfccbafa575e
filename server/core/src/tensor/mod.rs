//! Tensors as little-endian, row-major byte buffers plus name, shape and type.
//!
//! The buffer is a `Bytes`, so decode, batch assembly and row splitting slice
//! it instead of copying where they can.

pub mod datatype;
pub mod elements;

use bytes::{Bytes, BytesMut};

use crate::tensor::datatype::DataType;

/// A named tensor with a concrete shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    pub name: String,
    pub datatype: DataType,
    pub shape: Vec<usize>,
    /// Fixed-size types: `elements * element_size` bytes. `BYTES`: each
    /// element is a u32 little-endian length followed by its bytes.
    pub data: Bytes,
}

/// Why a shape or buffer does not describe a valid tensor.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TensorError {
    #[error("dimension {0} is negative")]
    NegativeDim(i64),
    #[error("shape {0:?} has more elements than fit in memory")]
    Overflow(Vec<i64>),
    #[error("shape {shape:?} has {elements} elements, over the limit of {limit}")]
    TooManyElements { shape: Vec<usize>, elements: usize, limit: usize },
    #[error("{datatype} data of shape {shape:?} needs {expected} bytes, got {actual}")]
    ByteLength { datatype: DataType, shape: Vec<usize>, expected: usize, actual: usize },
    #[error("BYTES data of shape {shape:?} needs {expected} elements, got {actual}")]
    StringCount { shape: Vec<usize>, expected: usize, actual: usize },
    #[error("BYTES data is truncated: an element's length prefix runs past the end")]
    Truncated,
}

/// Converts a protocol shape (int64 dims) to a concrete one.
pub fn concrete_shape(dims: &[i64]) -> Result<Vec<usize>, TensorError> {
    dims.iter().map(|&d| usize::try_from(d).map_err(|_| TensorError::NegativeDim(d))).collect()
}

/// Number of elements in `shape`, refusing overflow and anything over `limit`.
pub fn element_count(shape: &[usize], limit: usize) -> Result<usize, TensorError> {
    let elements = shape
        .iter()
        .try_fold(1usize, |acc, &d| acc.checked_mul(d))
        .ok_or_else(|| TensorError::Overflow(shape.iter().map(|&d| d as i64).collect()))?;
    if elements > limit {
        return Err(TensorError::TooManyElements { shape: shape.to_vec(), elements, limit });
    }
    Ok(elements)
}

/// Byte offsets of each element of a `BYTES` buffer: `(start, end)` of the
/// payload, after its length prefix.
pub fn string_spans(data: &[u8]) -> Result<Vec<(usize, usize)>, TensorError> {
    let mut spans = Vec::new();
    let mut at = 0usize;
    while at < data.len() {
        let prefix = data.get(at..at + 4).ok_or(TensorError::Truncated)?;
        let len = u32::from_le_bytes([prefix[0], prefix[1], prefix[2], prefix[3]]) as usize;
        let start = at + 4;
        let end = start.checked_add(len).ok_or(TensorError::Truncated)?;
        if end > data.len() {
            return Err(TensorError::Truncated);
        }
        spans.push((start, end));
        at = end;
    }
    Ok(spans)
}

/// Appends one `BYTES` element (length prefix + payload) to `out`.
pub fn push_string(out: &mut Vec<u8>, element: &[u8]) {
    out.extend_from_slice(&(element.len() as u32).to_le_bytes());
    out.extend_from_slice(element);
}

impl Tensor {
    pub fn new(name: impl Into<String>, datatype: DataType, shape: Vec<usize>, data: Bytes) -> Self {
        Tensor { name: name.into(), datatype, shape, data }
    }

    /// Number of elements its shape describes (no limit applied).
    pub fn element_count(&self) -> usize {
        self.shape.iter().product()
    }

    /// Checks that the buffer holds exactly the elements the shape describes.
    pub fn check_data(&self, limit: usize) -> Result<(), TensorError> {
        let elements = element_count(&self.shape, limit)?;
        match self.datatype.element_size() {
            Some(size) => {
                let expected = elements * size;
                if self.data.len() != expected {
                    return Err(TensorError::ByteLength {
                        datatype: self.datatype,
                        shape: self.shape.clone(),
                        expected,
                        actual: self.data.len(),
                    });
                }
            }
            None => {
                let actual = string_spans(&self.data)?.len();
                if actual != elements {
                    return Err(TensorError::StringCount { shape: self.shape.clone(), expected: elements, actual });
                }
            }
        }
        Ok(())
    }

    /// Rows along the first dimension (1 for a scalar).
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }

    /// Stacks tensors with equal trailing dimensions along the first one.
    /// A single part is returned without copying.
    pub fn concat_rows(parts: &[&Tensor]) -> Option<Tensor> {
        let first = *parts.first()?;
        if parts.len() == 1 {
            return Some(first.clone());
        }
        let rows: usize = parts.iter().map(|t| t.rows()).sum();
        let mut data = BytesMut::with_capacity(parts.iter().map(|t| t.data.len()).sum());
        for part in parts {
            data.extend_from_slice(&part.data);
        }
        let mut shape = first.shape.clone();
        if let Some(d0) = shape.first_mut() {
            *d0 = rows;
        }
        Some(Tensor::new(first.name.clone(), first.datatype, shape, data.freeze()))
    }

    /// Splits along the first dimension into consecutive pieces of the given
    /// row counts. Fixed-size types slice the buffer without copying.
    pub fn split_rows(&self, row_counts: &[usize]) -> Result<Vec<Tensor>, TensorError> {
        let total: usize = row_counts.iter().sum();
        if row_counts.len() == 1 && total == self.rows() {
            return Ok(vec![self.clone()]);
        }
        let per_row: usize = self.shape.iter().skip(1).product();
        let piece_shape = |rows: usize| {
            let mut shape = self.shape.clone();
            if let Some(d0) = shape.first_mut() {
                *d0 = rows;
            }
            shape
        };
        let mut pieces = Vec::with_capacity(row_counts.len());
        match self.datatype.element_size() {
            Some(size) => {
                let row_bytes = per_row * size;
                let expected = total * row_bytes;
                if self.data.len() != expected || self.rows() != total {
                    return Err(TensorError::ByteLength {
                        datatype: self.datatype,
                        shape: self.shape.clone(),
                        expected,
                        actual: self.data.len(),
                    });
                }
                let mut at = 0;
                for &rows in row_counts {
                    let end = at + rows * row_bytes;
                    pieces.push(Tensor::new(
                        self.name.clone(),
                        self.datatype,
                        piece_shape(rows),
                        self.data.slice(at..end),
                    ));
                    at = end;
                }
            }
            None => {
                let spans = string_spans(&self.data)?;
                if spans.len() != total * per_row {
                    return Err(TensorError::StringCount {
                        shape: self.shape.clone(),
                        expected: total * per_row,
                        actual: spans.len(),
                    });
                }
                let mut element = 0;
                let mut byte_at = 0;
                for &rows in row_counts {
                    element += rows * per_row;
                    // The piece ends where the last element's payload ends.
                    let end = if element == 0 { 0 } else { spans[element - 1].1 };
                    let end = end.max(byte_at);
                    pieces.push(Tensor::new(
                        self.name.clone(),
                        self.datatype,
                        piece_shape(rows),
                        self.data.slice(byte_at..end),
                    ));
                    byte_at = end;
                }
            }
        }
        Ok(pieces)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f32_tensor(shape: Vec<usize>, values: &[f32]) -> Tensor {
        let data: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        Tensor::new("x", DataType::Fp32, shape, Bytes::from(data))
    }

    #[test]
    fn element_count_refuses_overflow_and_limit() {
        assert_eq!(element_count(&[2, 3], 100), Ok(6));
        assert!(matches!(element_count(&[usize::MAX, 2], usize::MAX), Err(TensorError::Overflow(_))));
        assert!(matches!(element_count(&[10, 11], 100), Err(TensorError::TooManyElements { .. })));
        assert_eq!(concrete_shape(&[1, -1]), Err(TensorError::NegativeDim(-1)));
    }

    #[test]
    fn check_data_catches_wrong_lengths() {
        let t = f32_tensor(vec![2, 2], &[1.0, 2.0, 3.0]);
        assert!(matches!(t.check_data(1 << 20), Err(TensorError::ByteLength { expected: 16, actual: 12, .. })));
        let mut s = Vec::new();
        push_string(&mut s, b"ab");
        let t = Tensor::new("s", DataType::Bytes, vec![2], Bytes::from(s.clone()));
        assert!(matches!(t.check_data(10), Err(TensorError::StringCount { expected: 2, actual: 1, .. })));
        s.truncate(5);
        let t = Tensor::new("s", DataType::Bytes, vec![1], Bytes::from(s));
        assert_eq!(t.check_data(10), Err(TensorError::Truncated));
    }

    #[test]
    fn concat_then_split_restores_rows() {
        let a = f32_tensor(vec![1, 2], &[1.0, 2.0]);
        let b = f32_tensor(vec![2, 2], &[3.0, 4.0, 5.0, 6.0]);
        let joined = Tensor::concat_rows(&[&a, &b]).expect("non-empty");
        assert_eq!(joined.shape, vec![3, 2]);
        let pieces = joined.split_rows(&[1, 2]).expect("splits");
        assert_eq!(pieces, vec![a, b]);
    }

    #[test]
    fn split_bytes_tensor_by_rows() {
        let mut data = Vec::new();
        for s in ["a", "", "ccc", "dd"] {
            push_string(&mut data, s.as_bytes());
        }
        let t = Tensor::new("s", DataType::Bytes, vec![4, 1], Bytes::from(data));
        let pieces = t.split_rows(&[1, 1, 2]).expect("splits");
        assert_eq!(pieces.len(), 3);
        for piece in &pieces {
            piece.check_data(100).expect("each piece is well formed");
        }
        assert_eq!(&pieces[1].data[..], &0u32.to_le_bytes());
        let back = Tensor::concat_rows(&pieces.iter().collect::<Vec<_>>()).expect("non-empty");
        assert_eq!(back, t);
    }
}
