//! HTTP body compression, as Triton's HTTP endpoint and tritonclient's
//! `request_compression_algorithm` / `response_compression_algorithm` use
//! it: gzip or deflate request bodies (decompressed within the body limit,
//! so a zip bomb is a 413, never an allocation), and responses compressed
//! when `Accept-Encoding` asks.

use std::io::{Read, Write};

use axum::http::{HeaderMap, header};
use bytes::Bytes;
use flate2::Compression;
use flate2::read::{DeflateDecoder, GzDecoder, ZlibDecoder};
use flate2::write::{GzEncoder, ZlibEncoder};
use sluice_core::InferError;

/// Bodies above this are decompressed on a blocking thread.
const INLINE_BYTES: usize = 256 << 10;

/// Responses smaller than this go out as they are, whatever Accept-Encoding
/// says (as nginx's gzip_min_length): most HTTP clients ask for gzip by
/// default, and a one-row answer only grows and costs CPU when compressed.
pub const MIN_COMPRESSED_RESPONSE: usize = 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Gzip,
    /// HTTP's "deflate": zlib-wrapped (raw deflate is accepted too).
    Deflate,
}

impl Encoding {
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gzip => "gzip",
            Encoding::Deflate => "deflate",
        }
    }
}

/// The request body's `Content-Encoding`; None when absent or identity.
pub fn request_encoding(headers: &HeaderMap) -> Result<Option<Encoding>, InferError> {
    let Some(value) = headers.get(header::CONTENT_ENCODING) else { return Ok(None) };
    match value.to_str().map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        Ok("identity") | Ok("") => Ok(None),
        Ok("gzip") | Ok("x-gzip") => Ok(Some(Encoding::Gzip)),
        Ok("deflate") => Ok(Some(Encoding::Deflate)),
        _ => Err(InferError::invalid(format!(
            "Content-Encoding {value:?} is not supported; send gzip, deflate or an uncompressed body"
        ))),
    }
}

/// The response encoding `Accept-Encoding` prefers, if any (gzip first).
pub fn response_encoding(headers: &HeaderMap) -> Option<Encoding> {
    let accepted = headers.get(header::ACCEPT_ENCODING)?.to_str().ok()?.to_ascii_lowercase();
    // "name" or "name;q=X" with X > 0.
    let wants = |name: &str| {
        accepted.split(',').any(|part| {
            let mut fields = part.split(';').map(str::trim);
            fields.next() == Some(name)
                && fields.all(|f| f.strip_prefix("q=").is_none_or(|q| q.parse::<f32>().is_ok_and(|q| q > 0.0)))
        })
    };
    [Encoding::Gzip, Encoding::Deflate].into_iter().find(|e| wants(e.as_str()))
}

/// Decompresses a request body, refusing more than `limit` bytes of output.
pub async fn decompress(body: Bytes, encoding: Encoding, limit: usize) -> Result<Bytes, InferError> {
    if body.len() <= INLINE_BYTES {
        return decompress_now(&body, encoding, limit);
    }
    tokio::task::spawn_blocking(move || decompress_now(&body, encoding, limit))
        .await
        .map_err(|e| InferError::Backend(format!("decompression thread failed: {e}")))?
}

fn decompress_now(body: &[u8], encoding: Encoding, limit: usize) -> Result<Bytes, InferError> {
    let read = |reader: &mut dyn Read| -> std::io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(body.len().saturating_mul(4).min(limit));
        reader.take(limit as u64 + 1).read_to_end(&mut out)?;
        Ok(out)
    };
    let out = match encoding {
        Encoding::Gzip => read(&mut GzDecoder::new(body)),
        Encoding::Deflate => read(&mut ZlibDecoder::new(body)).or_else(|_| read(&mut DeflateDecoder::new(body))),
    }
    .map_err(|e| InferError::invalid(format!("the {} request body cannot be decompressed: {e}", encoding.as_str())))?;
    if out.len() > limit {
        return Err(InferError::PayloadTooLarge(format!(
            "the decompressed request body exceeds the limit of {limit} bytes (--max-request-bytes)"
        )));
    }
    Ok(out.into())
}

/// Compresses a response body (fast level: responses are hot); None when it
/// is too small to gain from it.
pub fn compress(body: &[u8], encoding: Encoding) -> Option<Vec<u8>> {
    if body.len() < MIN_COMPRESSED_RESPONSE {
        return None;
    }
    compress_all(body, encoding).ok()
}

fn compress_all(body: &[u8], encoding: Encoding) -> std::io::Result<Vec<u8>> {
    let level = Compression::fast();
    match encoding {
        Encoding::Gzip => {
            let mut encoder = GzEncoder::new(Vec::with_capacity(body.len() / 2 + 64), level);
            encoder.write_all(body)?;
            encoder.finish()
        }
        Encoding::Deflate => {
            let mut encoder = ZlibEncoder::new(Vec::with_capacity(body.len() / 2 + 64), level);
            encoder.write_all(body)?;
            encoder.finish()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: header::HeaderName, value: &str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(name, value.parse().expect("header"));
        map
    }

    #[tokio::test]
    async fn round_trips_and_refuses_bombs() {
        let body = b"{\"inputs\": []}".repeat(100);
        for encoding in [Encoding::Gzip, Encoding::Deflate] {
            let packed = compress_all(&body, encoding).expect("compress");
            let unpacked = decompress(packed.into(), encoding, 1 << 20).await.expect("decompress");
            assert_eq!(&unpacked[..], &body[..]);
        }
        let bomb = compress_all(&vec![0u8; 8 << 20], Encoding::Gzip).expect("compress");
        assert!(bomb.len() < 64 << 10, "8 MiB of zeros packs small");
        let refused = decompress(bomb.into(), Encoding::Gzip, 1 << 20).await.expect_err("over the limit");
        assert!(matches!(refused, InferError::PayloadTooLarge(_)), "{refused:?}");
        let garbage = decompress(Bytes::from_static(b"not gzip"), Encoding::Gzip, 100).await.expect_err("bad");
        assert!(matches!(garbage, InferError::InvalidInput(_)));
    }

    #[test]
    fn small_responses_stay_uncompressed() {
        assert!(compress(b"{}", Encoding::Gzip).is_none());
        assert!(compress(&[b' '; MIN_COMPRESSED_RESPONSE], Encoding::Gzip).is_some());
    }

    #[test]
    fn reads_the_encoding_headers() {
        assert_eq!(request_encoding(&headers(header::CONTENT_ENCODING, "gzip")).ok(), Some(Some(Encoding::Gzip)));
        assert_eq!(request_encoding(&HeaderMap::new()).ok(), Some(None));
        assert!(request_encoding(&headers(header::CONTENT_ENCODING, "br")).is_err());
        assert_eq!(response_encoding(&headers(header::ACCEPT_ENCODING, "deflate")), Some(Encoding::Deflate));
        assert_eq!(response_encoding(&headers(header::ACCEPT_ENCODING, "gzip, deflate")), Some(Encoding::Gzip));
        assert_eq!(response_encoding(&headers(header::ACCEPT_ENCODING, "gzip;q=0, deflate")), Some(Encoding::Deflate));
        assert_eq!(response_encoding(&headers(header::ACCEPT_ENCODING, "identity")), None);
    }
}
