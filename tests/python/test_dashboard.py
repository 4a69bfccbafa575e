"""The Grafana dashboard kept for the chart: valid JSON, and every metric it
queries is one sluice exports (names are an interface; a rename must show
up here)."""
import json
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXPORTED = {
    "model_inference_duration_seconds", "model_inference_requests_total", "model_inference_errors_total",
    "model_queue_duration_seconds", "model_compute_duration_seconds", "model_batch_size", "model_queue_depth",
    "model_loaded", "model_load_duration_seconds", "model_swaps_total", "process_resident_memory_bytes",
}
# Exported only by servers with GPU models loaded.
GPU = {"model_gpu_memory_bytes", "gpu_memory_used_bytes", "gpu_memory_total_bytes"}
# Exported by the sluice-drift sidecar (tests/python/test_drift_e2e.py scrapes them).
DRIFT = {
    "model_feature_drift_score", "model_drift_share", "model_drift_detected", "model_drift_window_samples",
    "model_retrain_triggers_total", "model_drift_samples_skipped_total",
}


def test_dashboard_queries_only_exported_metrics():
    dashboard = json.loads((ROOT / "helm/sluice/dashboards/sluice.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 8
    used = set()
    for expr in exprs:
        for name in re.findall(r"\b((?:model|process|gpu)_[a-z_]+)", expr):
            used.add(re.sub(r"_(bucket|sum|count)$", "", name))
    assert used <= EXPORTED | GPU | DRIFT, used - EXPORTED - GPU - DRIFT
    titles = " ".join(p["title"] for p in dashboard["panels"])
    for topic in ("canary vs stable", "Queue vs compute", "Batch size", "Errors by reason", "Drift", "Retraining",
                  "GPU memory"):
        assert topic in titles


def test_every_exported_metric_is_served(sluice):
    import urllib.request
    # The session server has handled requests by now or not; ask for one.
    body = json.dumps({"inputs": [{"name": "features", "shape": [1, 30], "datatype": "FP32", "data": [0.0] * 30}]})
    request = urllib.request.Request(f"{sluice.base_url}/v2/models/fraud-detection/infer", data=body.encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).read()
    text = urllib.request.urlopen(f"{sluice.base_url}/metrics", timeout=5).read().decode()
    declared = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    missing = {m for m in EXPORTED if m not in declared and m != "model_inference_errors_total"}
    assert not missing, missing
