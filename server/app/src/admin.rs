//! The optional bearer token that guards the repository API (index, load,
//! unload) on both transports.

use sluice_core::InferError;

/// Checks an `Authorization` header value against `--admin-token`.
pub fn authorize(expected: Option<&str>, authorization: Option<&str>) -> Result<(), InferError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let given = authorization.and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")));
    match given {
        Some(token) if constant_time_eq(token.trim().as_bytes(), expected.as_bytes()) => Ok(()),
        Some(_) => Err(InferError::Unauthenticated("the admin token is wrong".into())),
        None => Err(InferError::Unauthenticated(
            "the repository API needs the admin token: send 'Authorization: Bearer <token>'".into(),
        )),
    }
}

/// Compares without returning early, so response time says nothing about
/// how much of a guess was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = a.len() ^ b.len();
    for (i, byte) in b.iter().enumerate() {
        diff |= usize::from(a.get(i).copied().unwrap_or(0) ^ byte);
    }
    diff == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn needs_the_exact_token_when_one_is_set() {
        assert!(authorize(None, None).is_ok());
        assert!(authorize(Some("s3cret"), Some("Bearer s3cret")).is_ok());
        for wrong in [None, Some("s3cret"), Some("Bearer s3cre"), Some("Bearer s3cret2"), Some("Basic s3cret")] {
            assert!(matches!(authorize(Some("s3cret"), wrong), Err(InferError::Unauthenticated(_))), "{wrong:?}");
        }
    }
}
