//! Reaching an inference server that serves over TLS, and one that requires
//! client certificates (mTLS): the CA to trust, this sidecar's certificate,
//! and the name to verify when the address (127.0.0.1 in a pod) is not one
//! the server's certificate names.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;

use clap::Args;

#[derive(Args, Clone, Debug, Default)]
pub struct ServerTlsArgs {
    /// PEM CA certificate(s) to trust for an https:// --model-endpoint (beside the system's roots).
    #[arg(long, env = "SLUICE_DRIFT_SERVER_CA_FILE")]
    pub server_ca_file: Option<PathBuf>,
    /// PEM certificate this sidecar presents when the server requires client certificates.
    #[arg(long, env = "SLUICE_DRIFT_SERVER_CERT_FILE", requires = "server_key_file")]
    pub server_cert_file: Option<PathBuf>,
    /// PEM private key of --server-cert-file.
    #[arg(long, env = "SLUICE_DRIFT_SERVER_KEY_FILE", requires = "server_cert_file")]
    pub server_key_file: Option<PathBuf>,
    /// Verify the server's certificate against this name while connecting to the endpoint's
    /// address (e.g. the Service's DNS name, with --model-endpoint https://127.0.0.1:8080).
    #[arg(long, env = "SLUICE_DRIFT_SERVER_TLS_NAME")]
    pub server_tls_name: Option<String>,
}

impl ServerTlsArgs {
    /// Adds the trust, identity and name override to `builder`; returns the
    /// base URL to use (its host replaced by the TLS name, when given).
    pub fn apply(
        &self,
        mut builder: reqwest::ClientBuilder,
        base: &str,
    ) -> Result<(reqwest::ClientBuilder, String), String> {
        if let Some(path) = &self.server_ca_file {
            let pem = read(path)?;
            let certificates = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| format!("{}: not a PEM certificate: {e}", path.display()))?;
            if certificates.is_empty() {
                return Err(format!("{}: holds no certificate", path.display()));
            }
            for certificate in certificates {
                builder = builder.add_root_certificate(certificate);
            }
        }
        if let (Some(cert), Some(key)) = (&self.server_cert_file, &self.server_key_file) {
            let mut pem = read(cert)?;
            pem.push(b'\n');
            pem.extend(read(key)?);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| format!("{} / {}: not a certificate and key: {e}", cert.display(), key.display()))?;
            builder = builder.identity(identity);
        }
        let Some(name) = &self.server_tls_name else { return Ok((builder, base.to_owned())) };
        let mut url = reqwest::Url::parse(base).map_err(|e| format!("--model-endpoint {base}: {e}"))?;
        let address = endpoint_address(&url)?;
        url.set_host(Some(name)).map_err(|e| format!("--server-tls-name {name}: {e}"))?;
        Ok((builder.resolve(name, address), url.as_str().trim_end_matches('/').to_owned()))
    }
}

fn read(path: &PathBuf) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// Where the endpoint's host and port point (the first address it resolves to).
fn endpoint_address(url: &reqwest::Url) -> Result<SocketAddr, String> {
    let host = url.host_str().ok_or_else(|| format!("--model-endpoint {url} names no host"))?;
    let port = url.port_or_known_default().ok_or_else(|| format!("--model-endpoint {url} names no port"))?;
    (host.trim_start_matches('[').trim_end_matches(']'), port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("{host} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tls_name_keeps_the_address_and_swaps_the_host() {
        let args = ServerTlsArgs { server_tls_name: Some("sluice.models.svc".into()), ..Default::default() };
        let (_, base) = args.apply(reqwest::Client::builder(), "https://127.0.0.1:8080").expect("applies");
        assert_eq!(base, "https://sluice.models.svc:8080");
        let url = reqwest::Url::parse("https://127.0.0.1:8080").expect("url");
        assert_eq!(endpoint_address(&url).expect("address"), "127.0.0.1:8080".parse().expect("addr"));
    }

    #[test]
    fn unreadable_or_empty_files_say_which() {
        let args = ServerTlsArgs { server_ca_file: Some("/nonexistent/ca.crt".into()), ..Default::default() };
        let error = args.apply(reqwest::Client::builder(), "https://127.0.0.1:8080").expect_err("refused");
        assert!(error.contains("/nonexistent/ca.crt"), "{error}");
        let empty = tempfile::NamedTempFile::new().expect("temp");
        let args = ServerTlsArgs { server_ca_file: Some(empty.path().into()), ..Default::default() };
        let error = args.apply(reqwest::Client::builder(), "https://127.0.0.1:8080").expect_err("refused");
        assert!(error.contains("no certificate"), "{error}");
    }
}
