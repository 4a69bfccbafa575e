//! Real registry servers for the source tests, from the `.venv-registry`
//! that `make setup` installs: moto's S3 server and an MLflow tracking
//! server with its Model Registry. Each runs on a free port and is killed
//! when dropped.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::{TempDir, free_port, repo_root};

pub struct ServerProcess {
    child: Child,
    pub url: String,
    _dir: TempDir,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServerProcess {
    /// Kills the server now (a registry outage).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn registry_bin(name: &str) -> PathBuf {
    let bin = repo_root().join(".venv-registry/bin").join(name);
    assert!(bin.exists(), "{} is missing: run `make setup`", bin.display());
    bin
}

async fn wait_healthy(url: &str, what: &str) {
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        if client.get(url).send().await.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        assert!(Instant::now() < deadline, "{what} never answered at {url}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// moto's S3-compatible server.
pub async fn moto(tag: &str) -> ServerProcess {
    let port = free_port();
    let dir = TempDir::new(&format!("moto-{tag}"));
    let child = Command::new(registry_bin("moto_server"))
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .current_dir(&dir.0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let url = format!("http://127.0.0.1:{port}");
    let server = ServerProcess { child, url, _dir: dir };
    wait_healthy(&format!("{}/moto-api/", server.url), "moto").await;
    server
}

/// `mlflow server` with a SQLite backend store and proxied artifacts.
pub async fn mlflow(tag: &str) -> ServerProcess {
    let port = free_port();
    let dir = TempDir::new(&format!("mlflow-{tag}"));
    let child = Command::new(registry_bin("mlflow"))
        .arg("server")
        .args(["--host", "127.0.0.1", "--port", &port.to_string(), "--workers", "1"])
        .arg("--backend-store-uri")
        .arg(format!("sqlite:///{}", dir.0.join("mlflow.db").display()))
        .arg("--artifacts-destination")
        .arg(dir.0.join("artifacts"))
        .current_dir(&dir.0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("mlflow server starts");
    let url = format!("http://127.0.0.1:{port}");
    let server = ServerProcess { child, url, _dir: dir };
    wait_healthy(&format!("{}/health", server.url), "mlflow").await;
    server
}

/// Registers each directory as a new version of `name` with MLflow's own
/// Python client; `alias` then points at the last one. Returns the versions.
pub fn mlflow_register(tracking: &str, name: &str, dirs: &[PathBuf], alias: Option<&str>) -> Vec<u64> {
    let mut command = Command::new(registry_bin("python"));
    command.arg(repo_root().join("tests/registry/mlflow_register.py")).arg(tracking).arg(name).args(dirs);
    if let Some(alias) = alias {
        command.args(["--alias", alias]);
    }
    let output = command.stderr(Stdio::null()).output().expect("mlflow client runs");
    assert!(output.status.success(), "registering in MLflow failed");
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next()?.parse().ok())
        .collect()
}
