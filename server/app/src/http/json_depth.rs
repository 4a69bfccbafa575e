//! A nesting limit for JSON request bodies, checked before parsing: a body
//! of ten thousand `[` must be refused with a clear 400, not handed to a
//! recursive parser. One linear pass over the bytes, strings skipped.

/// The deepest nesting of arrays and objects in `json`, stopping early
/// once it passes `limit` (the input need not be valid JSON).
pub fn exceeds_depth(json: &[u8], limit: usize) -> bool {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &byte in json {
        if in_string {
            match (escaped, byte) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_nesting_outside_strings_only() {
        assert!(!exceeds_depth(br#"{"a":[[1,2],[3]]}"#, 3));
        assert!(exceeds_depth(br#"{"a":[[1,2],[3]]}"#, 2));
        assert!(!exceeds_depth(br#"{"s":"[[[[[[\"[[[["}"#, 1));
        let deep = format!("{}{}", "[".repeat(101), "]".repeat(101));
        assert!(exceeds_depth(deep.as_bytes(), 100));
        assert!(!exceeds_depth(deep.as_bytes(), 101));
    }
}
