//! Shared by the integration tests: start the real app in-process on port 0,
//! and talk to it over REST (reqwest) and gRPC (the generated tonic client).
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice::{App, Config, Listeners};
use sluice_proto::grpc_inference_service_client::GrpcInferenceServiceClient;
use tokio::net::TcpListener;
use tonic::transport::Channel;

pub mod all_types;
mod observe;
pub mod partition;
pub mod registry_servers;
pub mod traffic;

#[allow(unused_imports)]
pub use observe::metric_value;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

/// The files of a bundled version directory, metadata.json last: a version
/// is complete once its digests are there.
pub fn version_files(version_dir: &Path) -> Vec<String> {
    let mut files: Vec<String> = std::fs::read_dir(version_dir)
        .expect("version dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort_by_key(|f| (f == "metadata.json", f.clone()));
    files
}

pub fn models_dir() -> PathBuf {
    repo_root().join("models")
}

pub fn testdata_repository() -> PathBuf {
    repo_root().join("testdata/repository")
}

pub struct Server {
    pub http: SocketAddr,
    pub grpc: SocketAddr,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    /// The server process, when it runs as the real binary.
    child: Option<std::process::Child>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Server {
    /// Builds and serves the app with `config` (ports are replaced by 0).
    pub async fn start(config: Config) -> Server {
        let listeners = Listeners {
            http: TcpListener::bind("127.0.0.1:0").await.expect("bind http"),
            grpc: TcpListener::bind("127.0.0.1:0").await.expect("bind grpc"),
            metrics: None,
        };
        let app = App::build(config, listeners).await.expect("app builds");
        let (http, grpc) = (app.http_addr().expect("addr"), app.grpc_addr().expect("addr"));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.serve(async {
            let _ = stopped.await;
        }));
        Server { http, grpc, client: reqwest::Client::new(), stop: Some(stop), child: None }
    }

    /// Runs the real `sluice serve` binary with these arguments and
    /// environment (for settings only the environment carries, such as
    /// object-store credentials); ports are chosen here.
    pub async fn spawn_binary(args: &[String], envs: &[(&str, &str)]) -> Server {
        Server::spawn_binary_via(&[], args, envs).await
    }

    /// As `spawn_binary`, started through `wrapper` (a command that ends by
    /// running its arguments, e.g. `taskset -c 0`).
    pub async fn spawn_binary_via(wrapper: &[&str], args: &[String], envs: &[(&str, &str)]) -> Server {
        let (http, grpc) = (free_port(), free_port());
        let mut command = match wrapper {
            [] => std::process::Command::new(env!("CARGO_BIN_EXE_sluice")),
            [program, rest @ ..] => {
                let mut command = std::process::Command::new(program);
                command.args(rest).arg(env!("CARGO_BIN_EXE_sluice"));
                command
            }
        };
        let child = command
            .arg("serve")
            .args(args)
            .args(["--host", "127.0.0.1", "--http-port", &http.to_string(), "--grpc-port", &grpc.to_string()])
            .env("SLUICE_LOG_LEVEL", "warn")
            // Generic names sluice also reads (KServe-style deployments).
            .env_remove("MODEL_PATH")
            .env_remove("MAX_BATCH_SIZE")
            .env_remove("WORKERS")
            .envs(envs.iter().copied())
            .current_dir(repo_root())
            .spawn()
            .expect("sluice starts");
        let localhost = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        Server {
            http: localhost(http),
            grpc: localhost(grpc),
            client: reqwest::Client::new(),
            stop: None,
            child: Some(child),
        }
    }

    /// The spawned server's process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("a spawned server").id()
    }

    /// Sends SIGTERM to the spawned server, as the kubelet does.
    pub fn terminate(&self) {
        let child = self.child.as_ref().expect("a spawned server");
        let status =
            std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
        assert!(status.success(), "SIGTERM delivered");
    }

    /// Waits (up to `limit`) for the spawned server to exit; its status.
    pub async fn wait_exit(&mut self, limit: Duration) -> std::process::ExitStatus {
        let child = self.child.as_mut().expect("a spawned server");
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                self.child = None;
                return status;
            }
            assert!(Instant::now() < deadline, "sluice did not exit within {limit:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the spawned server answers, then until it is ready.
    pub async fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while self.client.get(self.url("/v2/health/live")).send().await.is_err() {
            assert!(Instant::now() < deadline, "sluice never started listening");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.wait_until(|ready| ready).await;
    }

    /// Starts and waits until the server reports ready.
    pub async fn ready(config: Config) -> Server {
        let server = Server::start(config).await;
        server.wait_until(|ready| ready).await;
        server
    }

    /// Waits (up to 30 s) until `/v2/health/ready` satisfies `want`.
    pub async fn wait_until(&self, want: impl Fn(bool) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let (status, _) = self.get("/v2/health/ready").await;
            if want(status == 200) {
                return;
            }
            assert!(Instant::now() < deadline, "server never reached the wanted readiness");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until every model has finished loading (ready or failed).
    pub async fn wait_loaded(&self, models: &[&str]) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let mut settled = true;
            for m in models {
                let (status, _) = self.get(&format!("/v2/models/{m}")).await;
                // 200 = loaded; 503 with "failed" = gave up; 503 "loading" = not yet.
                if status == 503 {
                    let (_, body) = self.get(&format!("/v2/models/{m}")).await;
                    settled &= body["error"].as_str().is_some_and(|e| e.contains("failed"));
                }
            }
            if settled {
                return;
            }
            assert!(Instant::now() < deadline, "models never settled");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).send().await.expect("GET");
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        self.post_raw(path, serde_json::to_vec(body).expect("json"), None).await
    }

    pub async fn post_raw(&self, path: &str, body: Vec<u8>, header_length: Option<usize>) -> (u16, Value) {
        let mut request = self.client.post(self.url(path)).body(body);
        if let Some(n) = header_length {
            request = request.header("Inference-Header-Content-Length", n.to_string());
        }
        let response = request.send().await.expect("POST");
        let status = response.status().as_u16();
        let text = response.bytes().await.expect("body");
        (status, serde_json::from_slice(&text).unwrap_or(Value::Null))
    }

    pub async fn grpc(&self) -> GrpcInferenceServiceClient<Channel> {
        GrpcInferenceServiceClient::connect(format!("http://{}", self.grpc))
            .await
            .expect("gRPC connects")
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX)
    }
}

pub fn repository_config(repository: impl AsRef<std::path::Path>) -> Config {
    Config::for_repository(repository)
}

/// Deterministic pseudo-random features in [-2, 2).
pub fn features(rows: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..rows * 30)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 4.0 - 2.0
        })
        .collect()
}

/// A gRPC ModelInfer request for fraud-detection (`version`, "" = newest)
/// with `rows` rows of `features(rows, seed)` as raw contents.
pub fn fraud_grpc_request(version: &str, rows: usize, seed: u64) -> sluice_proto::ModelInferRequest {
    sluice_proto::ModelInferRequest {
        model_name: "fraud-detection".into(),
        model_version: version.into(),
        inputs: vec![sluice_proto::model_infer_request::InferInputTensor {
            name: "features".into(),
            datatype: "FP32".into(),
            shape: vec![rows as i64, 30],
            ..Default::default()
        }],
        raw_input_contents: vec![features(rows, seed).iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>().into()],
        ..Default::default()
    }
}

pub fn fp32_input(name: &str, rows: usize, values: &[f32]) -> Value {
    json!({ "name": name, "shape": [rows, values.len() / rows.max(1)], "datatype": "FP32", "data": values })
}

pub fn f32s(value: &Value) -> Vec<f32> {
    value.as_array().expect("array").iter().map(|v| v.as_f64().expect("number") as f32).collect()
}

pub fn le_f32s(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// Runs Python's onnxruntime on the same model file and inputs: the ground
/// truth sluice's ONNX outputs must equal bit for bit.
pub fn onnxruntime_reference(model: &Path, input: &str, rows: usize, values: &[f32]) -> Vec<f32> {
    let python = repo_root().join(".venv/bin/python");
    assert!(python.exists(), "{} is missing: run `make setup`", python.display());
    let script = r#"
import json, sys
import numpy as np
import onnxruntime as ort
req = json.load(sys.stdin)
x = np.asarray(req["values"], dtype=np.float32).reshape(req["rows"], -1)
out = ort.InferenceSession(req["model"], providers=["CPUExecutionProvider"]).run(None, {req["input"]: x})[0]
print(json.dumps(out.astype(np.float32).ravel().tolist()))
"#;
    let request = json!({ "model": model, "input": input, "rows": rows, "values": values });
    let mut child = std::process::Command::new(python)
        .args(["-c", script])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("python starts");
    use std::io::Write;
    child.stdin.take().expect("stdin").write_all(request.to_string().as_bytes()).expect("write");
    let output = child.wait_with_output().expect("python runs");
    assert!(output.status.success(), "onnxruntime reference failed");
    let values: Vec<f64> = serde_json::from_slice(&output.stdout).expect("json");
    values.into_iter().map(|v| v as f32).collect()
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("sluice-test-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Copies a directory tree.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// A repository holding `fraud-detection` (both versions) with this model.toml.
pub fn fraud_repo(tag: &str, model_toml: &str) -> TempDir {
    let repo = TempDir::new(tag);
    copy_dir(&models_dir().join("fraud-detection"), &repo.0.join("fraud-detection"));
    std::fs::write(repo.0.join("fraud-detection/model.toml"), model_toml).expect("write model.toml");
    repo
}

/// The fraud-detection outputs of each bundled version for input `x`, from
/// Python's onnxruntime.
pub fn fraud_references(x: &[f32]) -> Vec<(u64, Vec<f32>)> {
    [1, 2]
        .into_iter()
        .map(|v| {
            let file = models_dir().join(format!("fraud-detection/{v}/model.onnx"));
            (v, onnxruntime_reference(&file, "features", 1, x))
        })
        .collect()
}

/// fraud-detection's model.toml, serving only the newest version.
pub const FRAUD_LATEST_1: &str = "backend = \"onnx\"\nmax_batch_size = 64\nversion_policy = { latest = 1 }\n\n[batching]\nmax_queue_delay_us = 200\n";

/// A port that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}
