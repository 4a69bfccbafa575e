//! TLS for the REST and gRPC listeners (rustls, ring), optionally requiring
//! client certificates signed by a given CA (mTLS). The certificate, key and
//! CA files are re-read when they change, as when Kubernetes updates a
//! mounted Secret in place: new connections get the new certificate, open
//! ones keep theirs, and a broken update keeps the last good configuration.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;

/// The PEM files TLS is configured from.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// Set: clients must present a certificate this CA signed.
    pub client_ca: Option<PathBuf>,
}

impl TlsFiles {
    fn paths(&self) -> impl Iterator<Item = &Path> {
        [self.cert.as_path(), self.key.as_path()].into_iter().chain(self.client_ca.as_deref())
    }

    /// Modification time and size of each file (following the symlinks a
    /// mounted Secret is made of): what a change is detected by.
    fn stamp(&self) -> Vec<Option<(SystemTime, u64)>> {
        self.paths().map(|p| std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())))).collect()
    }
}

/// The live TLS configuration, swapped on reload.
pub struct Tls {
    files: TlsFiles,
    current: ArcSwap<ServerConfig>,
    reloads: prometheus::IntCounterVec,
}

impl Tls {
    /// Reads the files; an unusable certificate or key is a start-up error.
    pub fn load(files: TlsFiles, metrics_registry: &prometheus::Registry) -> anyhow::Result<Arc<Self>> {
        let config = server_config(&files)?;
        let reloads = prometheus::IntCounterVec::new(
            prometheus::Opts::new("sluice_tls_reloads_total", "TLS certificate reloads after the files changed"),
            &["result"],
        )?;
        metrics_registry.register(Box::new(reloads.clone()))?;
        Ok(Arc::new(Tls { files, current: ArcSwap::from_pointee(config), reloads }))
    }

    pub fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current.load_full())
    }

    /// Checks the files every `every` and reloads when any changed.
    pub async fn watch(self: Arc<Self>, every: Duration) {
        let mut seen = self.files.stamp();
        loop {
            tokio::time::sleep(every).await;
            let now = self.files.stamp();
            if now == seen {
                continue;
            }
            seen = now;
            match server_config(&self.files) {
                Ok(config) => {
                    self.current.store(Arc::new(config));
                    self.reloads.with_label_values(&["ok"]).inc();
                    tracing::info!(cert = %self.files.cert.display(), "TLS certificate reloaded");
                }
                Err(error) => {
                    self.reloads.with_label_values(&["failed"]).inc();
                    tracing::error!(%error, "TLS files changed but cannot be used; keeping the previous certificate");
                }
            }
        }
    }
}

fn server_config(files: &TlsFiles) -> anyhow::Result<ServerConfig> {
    use anyhow::Context;
    let read = |what: &str, path: &Path| format!("cannot read the TLS {what} {}", path.display());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&files.cert)
        .and_then(|certs| certs.collect())
        .with_context(|| read("certificate", &files.cert))?;
    anyhow::ensure!(!certs.is_empty(), "{} holds no PEM certificate", files.cert.display());
    let key = PrivateKeyDer::from_pem_file(&files.key).with_context(|| read("private key", &files.key))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(ca) => {
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca).with_context(|| read("client CA", ca))? {
                roots.add(cert.with_context(|| read("client CA", ca))?)?;
            }
            anyhow::ensure!(!roots.is_empty(), "{} holds no CA certificate", ca.display());
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .with_context(|| format!("{} does not match {}", files.key.display(), files.cert.display()))?;
    // gRPC negotiates HTTP/2; REST clients may use either.
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
