//! The async runtime fits the CPU the process may use: an explicit
//! --worker-threads, the CPU affinity mask (taskset), and a cgroup CPU quota
//! (what a Kubernetes CPU limit sets), read from `sluice_runtime_workers`.

mod common;

use common::*;

fn repository_args() -> Vec<String> {
    vec!["--model-repository".into(), models_dir().display().to_string()]
}

async fn served_workers(server: &Server) -> i64 {
    server.wait_ready().await;
    let text = server.metrics_text().await;
    let line = text.lines().find(|l| l.starts_with("sluice_runtime_workers ")).expect("the gauge is exported");
    line.split_whitespace().nth(1).and_then(|v| v.parse().ok()).expect("a number")
}

#[tokio::test]
async fn an_explicit_count_wins() {
    let mut args = repository_args();
    args.extend(["--worker-threads".into(), "3".into()]);
    let server = Server::spawn_binary(&args, &[]).await;
    assert_eq!(served_workers(&server).await, 3);
}

#[tokio::test]
async fn the_affinity_mask_limits_the_default() {
    let server = Server::spawn_binary_via(&["taskset", "-c", "0"], &repository_args(), &[]).await;
    assert_eq!(served_workers(&server).await, 1, "one CPU allowed, one worker");
}

/// A cgroup v1 `cpu` group (or a v2 group) with a quota of one CPU, if this
/// machine lets the test create one; `None` otherwise.
fn one_cpu_cgroup() -> Option<std::path::PathBuf> {
    let name = format!("sluice-test-{}", std::process::id());
    let v1 = std::path::Path::new("/sys/fs/cgroup/cpu").join(&name);
    if std::fs::create_dir(&v1).is_ok() {
        if std::fs::write(v1.join("cpu.cfs_period_us"), "100000").is_ok()
            && std::fs::write(v1.join("cpu.cfs_quota_us"), "100000").is_ok()
        {
            return Some(v1);
        }
        let _ = std::fs::remove_dir(&v1);
    }
    let v2 = std::path::Path::new("/sys/fs/cgroup").join(&name);
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() && std::fs::create_dir(&v2).is_ok() {
        if std::fs::write(v2.join("cpu.max"), "100000 100000").is_ok() {
            return Some(v2);
        }
        let _ = std::fs::remove_dir(&v2);
    }
    None
}

#[tokio::test]
async fn a_cgroup_cpu_quota_limits_the_default() {
    let Some(group) = one_cpu_cgroup() else {
        eprintln!("SKIPPED: this machine does not let the test create a cgroup with a CPU quota");
        return;
    };
    let procs = group.join("cgroup.procs").display().to_string();
    let join_then_exec = format!("echo $$ > {procs} && exec \"$0\" \"$@\"");
    let mut server = Server::spawn_binary_via(&["sh", "-c", &join_then_exec], &repository_args(), &[]).await;
    let workers = served_workers(&server).await;
    server.terminate();
    server.wait_exit(std::time::Duration::from_secs(30)).await;
    let _ = std::fs::remove_dir(&group);
    assert_eq!(workers, 1, "a quota of one CPU, one worker");
}
