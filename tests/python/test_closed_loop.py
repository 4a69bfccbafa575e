"""The closed loop with real processes (scripts/closed_loop.py): a stable
and a canary sluice, the drift sidecar, the trainer's webhook and a real
Prometheus, driven by the chart's own Rollout steps and AnalysisTemplate.
Timelines land in target/loop/ (JSON and PNG)."""
import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
from loop.run import run  # noqa: E402

OUT = ROOT / "target" / "loop"


def events(result, kind):
    return [e for e in result["events"] if e["event"] == kind]


def stable_versions(result):
    return {version for role, version in result["responses"]["versions"] if role == "stable"}


def triggers(result, outcome="success"):
    return sum(s["value"] for s in result["metrics_at_end"].get("model_retrain_triggers_total", [])
               if s["result"] == outcome)


def test_happy_path_drift_retrain_canary_promote(tmp_path):
    result = run("happy", ROOT, tmp_path, OUT, ROOT / ".tools" / "helm")
    assert result["outcome"] == "promoted", result["events"]
    assert len(events(result, "retrain_started")) == 1 and triggers(result) == 1, "exactly one retrain"
    (finished,) = events(result, "retrain_finished")
    assert finished["state"] == "succeeded" and finished["version"] == 3
    assert [a["phase"] for a in events(result, "analysis")] == ["Successful", "Successful"]
    responses = result["responses"]
    assert responses["failed"] == 0, responses["failed_examples"]
    assert responses["not_live_count"] == 0, responses["not_live"]
    assert responses["by_role"]["canary"] > 0
    assert result["versions_at_end"]["3"] == "production" and result["versions_at_end"]["2"] == "archived"
    assert "3" in stable_versions(result), "the stable server serves the promoted version"
    onset, detected = events(result, "drift_injected")[0]["t"], events(result, "drift_detected")[0]["t"]
    promoted = events(result, "promoted")[0]["t"]
    print(f"drift onset -> detected {detected - onset:.1f} s, -> published {finished['t'] - onset:.1f} s, "
          f"-> promoted {promoted - onset:.1f} s; {responses['total']} requests, {responses['failed']} failed")
    assert (OUT / "loop-happy.png").stat().st_size > 10_000


def test_bad_model_fails_the_gates_and_publishes_nothing(tmp_path):
    result = run("bad-model", ROOT, tmp_path, OUT, ROOT / ".tools" / "helm")
    assert result["outcome"] == "gates_failed", result["events"]
    (finished,) = events(result, "retrain_finished")
    assert finished["version"] is None and any(not g["passed"] for g in finished["gates"])
    assert "3" not in result["versions_at_end"] and result["versions_at_end"]["2"] == "production"
    assert not events(result, "canary_start")
    assert stable_versions(result) == {"2"}, "stable untouched"
    assert result["responses"]["failed"] == 0, result["responses"]["failed_examples"]
    jobs = {s["result"]: s["value"] for s in result["metrics_at_end"]["trainer_jobs_total"]}
    assert jobs.get("gates_failed") == 1, result["metrics_at_end"]
    assert sum(s["value"] for s in result["metrics_at_end"]["trainer_gate_failures_total"]) >= 1


def test_bad_canary_is_aborted_and_stable_untouched(tmp_path):
    result = run("bad-canary", ROOT, tmp_path, OUT, ROOT / ".tools" / "helm")
    assert result["outcome"] == "aborted", result["events"]
    assert events(result, "analysis")[0]["phase"] == "Failed"
    assert not events(result, "promoted")
    responses = result["responses"]
    assert responses["failed_by_role"]["stable"] == 0, responses["failed_examples"]
    assert responses["failed_by_role"]["canary"] > 0, "the canary's own injected errors"
    assert stable_versions(result) == {"2"}
    assert triggers(result) == 0, "no drift, no retraining"
    assert result["versions_at_end"]["3"] == "archived" and result["versions_at_end"]["2"] == "production"
    assert responses["not_live_count"] == 0, responses["not_live"]
