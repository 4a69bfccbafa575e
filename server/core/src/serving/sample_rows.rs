//! A page of sampled rows in columns, as both transports return it: the
//! sampled requests that share the first one's per-row shapes, each input
//! and output joined along the batch dimension. A request with other row
//! shapes ends the page (it starts the next one), so the columns stay
//! rectangular.

use crate::serving::sampling::{Sample, SamplePage};
use crate::tensor::Tensor;

/// Rows one read returns at most, whatever it asks for.
pub const MAX_LIMIT: usize = 100_000;

/// The rows a read may return: `requested` (none or 0: the default), capped.
pub fn page_limit(requested: Option<usize>) -> usize {
    requested.filter(|&n| n > 0).unwrap_or(crate::defaults::SAMPLES_PAGE_ROWS).min(MAX_LIMIT)
}

/// When one sampled request was served and how many rows it brought.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SampledRequest {
    pub rows: usize,
    pub unix_ms: u64,
}

#[derive(Debug, Clone)]
pub struct SampledRows {
    /// Where the next read starts.
    pub cursor: u64,
    /// Rows after `since` evicted before they could be read.
    pub dropped: u64,
    pub rows: usize,
    pub requests: Vec<SampledRequest>,
    pub inputs: Vec<Tensor>,
    pub outputs: Vec<Tensor>,
}

impl SampledRows {
    pub fn from_page(page: SamplePage, since: u64) -> Self {
        let first_shapes = page.samples.first().map(|s| row_shapes(&s.inputs)).unwrap_or_default();
        let taken: Vec<&Sample> = page.samples.iter().take_while(|s| row_shapes(&s.inputs) == first_shapes).collect();
        let cursor = if taken.len() == page.samples.len() {
            page.cursor
        } else {
            taken.last().map_or(since, |s| s.first_row + s.rows as u64)
        };
        let rows = taken.iter().map(|s| s.rows).sum();
        SampledRows {
            cursor,
            dropped: page.dropped,
            rows,
            requests: taken.iter().map(|s| SampledRequest { rows: s.rows, unix_ms: s.unix_ms }).collect(),
            inputs: concat(taken.iter().map(|s| s.inputs.as_slice()), rows),
            outputs: concat(taken.iter().map(|s| s.outputs.as_slice()), rows),
        }
    }
}

fn row_shapes(tensors: &[Tensor]) -> Vec<Vec<usize>> {
    tensors.iter().map(|t| t.shape.iter().skip(1).copied().collect()).collect()
}

/// Each tensor of the requests joined along the first dimension.
fn concat<'a>(requests: impl Iterator<Item = &'a [Tensor]> + Clone, rows: usize) -> Vec<Tensor> {
    let Some(first) = requests.clone().next() else { return Vec::new() };
    first
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let mut data = Vec::new();
            for tensors in requests.clone() {
                if let Some(part) = tensors.get(i) {
                    data.extend_from_slice(&part.data);
                }
            }
            let mut shape = t.shape.clone();
            if let Some(batch) = shape.first_mut() {
                *batch = rows;
            }
            Tensor::new(t.name.clone(), t.datatype, shape, data.into())
        })
        .collect()
}
