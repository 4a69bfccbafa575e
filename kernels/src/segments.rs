//! Byte segments copied between buffers: how a batch is assembled from
//! requests' rows and scattered back. The CPU reference of
//! `cuda/copy_segments.cu`, and the plans both follow.

/// `len` bytes from `src` (an offset in the source) to `dst` (in the target).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    pub src: usize,
    pub dst: usize,
    pub len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SegmentError {
    #[error("segment {index} ({from}..{to}) is outside the {side} buffer of {size} bytes")]
    OutOfBounds { index: usize, side: &'static str, from: usize, to: usize, size: usize },
    #[error("segments {first} and {second} write the same bytes")]
    Overlap { first: usize, second: usize },
}

/// Checks every segment against both buffers, and that no two write the
/// same bytes (on the device they run in parallel).
pub fn check(segments: &[Segment], src_len: usize, dst_len: usize) -> Result<(), SegmentError> {
    for (index, s) in segments.iter().enumerate() {
        for (side, start, size) in [("source", s.src, src_len), ("target", s.dst, dst_len)] {
            let end = start.checked_add(s.len);
            if end.is_none_or(|end| end > size) {
                let to = end.unwrap_or(usize::MAX);
                return Err(SegmentError::OutOfBounds { index, side, from: start, to, size });
            }
        }
    }
    let mut order: Vec<usize> = (0..segments.len()).filter(|&i| segments[i].len > 0).collect();
    order.sort_by_key(|&i| segments[i].dst);
    for pair in order.windows(2) {
        let (a, b) = (&segments[pair[0]], &segments[pair[1]]);
        if a.dst + a.len > b.dst {
            return Err(SegmentError::Overlap { first: pair[0].min(pair[1]), second: pair[0].max(pair[1]) });
        }
    }
    Ok(())
}

/// Copies each segment of `src` into `dst`.
pub fn copy_segments(src: &[u8], dst: &mut [u8], segments: &[Segment]) -> Result<(), SegmentError> {
    check(segments, src.len(), dst.len())?;
    for s in segments {
        dst[s.dst..s.dst + s.len].copy_from_slice(&src[s.src..s.src + s.len]);
    }
    Ok(())
}

/// Packs slots (offset, length) of a staging buffer one after another into
/// a batch: the segments, and the batch's length.
pub fn gather_plan(slots: &[(usize, usize)]) -> (Vec<Segment>, usize) {
    let mut at = 0;
    let segments = slots
        .iter()
        .map(|&(offset, len)| {
            let segment = Segment { src: offset, dst: at, len };
            at += len;
            segment
        })
        .collect();
    (segments, at)
}

/// The way back: a batch's consecutive pieces into the same slots.
pub fn scatter_plan(slots: &[(usize, usize)]) -> Vec<Segment> {
    gather_plan(slots).0.into_iter().map(|s| Segment { src: s.dst, dst: s.src, len: s.len }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Requests' rows at scattered slots of a staging buffer.
    fn staging() -> (Vec<u8>, Vec<(usize, usize)>) {
        let buffer: Vec<u8> = (0..200u8).collect();
        (buffer, vec![(100, 12), (3, 40), (64, 0), (150, 33)])
    }

    #[test]
    fn gathering_packs_the_slots_in_order_and_scattering_puts_them_back() {
        let (buffer, slots) = staging();
        let (plan, total) = gather_plan(&slots);
        assert_eq!(total, 85);
        let mut batch = vec![0u8; total];
        copy_segments(&buffer, &mut batch, &plan).expect("in bounds");
        let expected: Vec<u8> = slots.iter().flat_map(|&(o, l)| buffer[o..o + l].to_vec()).collect();
        assert_eq!(batch, expected);

        let mut back = vec![0u8; buffer.len()];
        copy_segments(&batch, &mut back, &scatter_plan(&slots)).expect("in bounds");
        for &(offset, len) in &slots {
            assert_eq!(back[offset..offset + len], buffer[offset..offset + len]);
        }
        assert_eq!(back[0..3], [0, 0, 0], "bytes outside every slot are left alone");
    }

    #[test]
    fn refuses_segments_out_of_bounds_or_writing_the_same_bytes() {
        let (buffer, _) = staging();
        let mut target = vec![0u8; 16];
        let outside = [Segment { src: 190, dst: 0, len: 11 }];
        assert!(matches!(
            copy_segments(&buffer, &mut target, &outside),
            Err(SegmentError::OutOfBounds { side: "source", .. })
        ));
        let past_target = [Segment { src: 0, dst: 10, len: 7 }];
        assert!(matches!(check(&past_target, 200, 16), Err(SegmentError::OutOfBounds { side: "target", .. })));
        let wraps = [Segment { src: usize::MAX, dst: 0, len: 2 }];
        assert!(matches!(check(&wraps, 200, 16), Err(SegmentError::OutOfBounds { .. })));
        let overlapping = [Segment { src: 0, dst: 8, len: 4 }, Segment { src: 0, dst: 0, len: 9 }];
        assert_eq!(check(&overlapping, 200, 16), Err(SegmentError::Overlap { first: 0, second: 1 }));
        let touching = [Segment { src: 0, dst: 8, len: 4 }, Segment { src: 0, dst: 0, len: 8 }];
        assert_eq!(check(&touching, 200, 16), Ok(()));
        assert_eq!(target, vec![0u8; 16], "nothing is copied when a segment is refused");
    }
}
