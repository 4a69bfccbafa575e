"""One run of the loop: start the stack and the traffic, inject drift (or a
bad canary), and drive the rollout as Argo Rollouts would from the chart's
rendered Rollout steps and AnalysisTemplate; then write the timeline.

Scenarios:
  happy       drift -> one retrain -> gates pass -> canary -> analyses pass -> promoted
  bad-model   drift -> retrain on corrupted labels -> gates fail -> nothing published
  bad-canary  a faulty version published (its input renamed: every request it
              gets fails) -> canary -> analysis fails -> aborted
"""
import hashlib
import json
import pathlib
import random
import shutil
import threading
import time
import urllib.request

from . import analysis, timeline
from .stack import MODEL, Stack
from .traffic import FEATURES, Traffic, drifted, load_rows

DRIFT_SHIFT = 2.0
# The canary steps of the chart's default rollout, with pauses and analysis
# windows sized for a test run instead of a production rollout.
LOOP_VALUES = """
rollout:
  steps:
    - setWeight: 10
    - pause: { duration: 3s }
    - analysis: {}
    - setWeight: 30
    - pause: { duration: 3s }
    - analysis: {}
    - setWeight: 60
    - pause: { duration: 3s }
    - setWeight: 100
analysis:
  window: 15s
  interval: 2s
  count: 3
  failureLimit: 1
  inconclusiveLimit: 2
"""
TRAINING_CONFIG = """
model: mlp
hidden: [16]
split: time
validation_fraction: 0.25
epochs: 12
batch_size: 512
learning_rate: 0.003
weight_decay: 0.0001
patience: 4
seed: 1
reference_rows: 1000
importance_repeats: 1
latency_samples: 200
"""
GATES = """
metrics:
  pr_auc:
    minimum: 0.5
  roc_auc:
    minimum: 0.9
  latency_p95_ms:
    maximum: 50
"""


class Events:
    def __init__(self, started):
        self.started, self.items, self._lock = started, [], threading.Lock()

    def add(self, kind, **detail):
        with self._lock:
            self.items.append({"t": round(time.time() - self.started, 3), "at": time.time(), "event": kind, **detail})
        print(f"[{time.time() - self.started:7.2f}s] {kind} {json.dumps(detail) if detail else ''}", flush=True)

    def first(self, kind):
        return next((e for e in self.items if e["event"] == kind), None)


class LiveVersions:
    """Which version each server answered with, and when: a response must
    name a version whose interval overlaps its request."""

    def __init__(self):
        self.intervals = []

    def begin(self, role, version, at=None):
        self.intervals.append({"role": role, "version": str(version), "from": at or time.time(), "to": None})

    def end(self, role, version, at=None):
        for interval in self.intervals:
            if interval["role"] == role and interval["version"] == str(version) and interval["to"] is None:
                interval["to"] = at or time.time()

    def allows(self, response):
        return any(i["role"] == response["role"] and i["version"] == response["version"]
                   and i["from"] <= response["received"] and (i["to"] is None or i["to"] >= response["sent"])
                   for i in self.intervals)


def write_fresh_data(path, rows, corrupt_labels):
    """The trainer's "latest labelled data": the drifted inputs with their
    labels (shuffled for the bad-model scenario, so nothing can be learnt)."""
    labels = [label for _, label in rows]
    if corrupt_labels:
        random.Random(3).shuffle(labels)
    with open(path, "w") as f:
        f.write(",".join(FEATURES + ["Class"]) + "\n")
        for (features, _), label in zip(rows, labels):
            f.write(",".join(repr(x) for x in drifted(features, DRIFT_SHIFT)) + f",{label}\n")


def publish_faulty_version(stack, version):
    """A bad release: the production model with its input renamed, so every
    request the traffic sends it fails; it loads and warms up fine."""
    import onnx
    source = stack.repository / MODEL / "2"
    target = stack.repository / MODEL / str(version)
    shutil.copytree(source, target)
    model = onnx.load(str(target / "model.onnx"))
    old = model.graph.input[0].name
    model.graph.input[0].name = "x"
    for node in model.graph.node:
        node.input[:] = ["x" if name == old else name for name in node.input]
    onnx.save(model, str(target / "model.onnx"))
    metadata = json.loads((target / "metadata.json").read_text())
    metadata.update({"version": version, "status": "staged", "status_history": []})
    digest = hashlib.sha256((target / "model.onnx").read_bytes()).hexdigest()
    metadata["artifacts"]["model.onnx"]["sha256"] = digest
    (target / "metadata.json").write_text(json.dumps(metadata, indent=2))


def wait_until(predicate, timeout, what, poll=0.25):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise TimeoutError(f"never: {what}")


def drift_detected(stack):
    try:
        text = analysis.prometheus_query(stack.url("prometheus"), f'model_drift_detected{{model="{MODEL}"}}')
    except OSError:
        return False
    return text and text[0] == 1.0


class Controller:
    """Argo Rollouts' canary steps for two servers on one machine."""

    def __init__(self, stack, traffic, events, live, rollout, metrics):
        self.stack, self.traffic, self.events, self.live = stack, traffic, events, live
        self.steps = rollout["spec"]["strategy"]["canary"]["steps"]
        self.metrics = metrics

    def run_canary(self, version, stable_version):
        stack, events = self.stack, self.events
        stack.set_status(version, "canary")
        stack.serve_version("canary", version)
        self.live.begin("canary", version)
        events.add("canary_start", version=version)
        for step in self.steps:
            if "setWeight" in step:
                self.traffic.canary_weight = step["setWeight"] / 100
                events.add("set_weight", weight=step["setWeight"])
            elif "pause" in step:
                time.sleep(analysis.seconds(step["pause"].get("duration", 0)))
            elif "analysis" in step:
                phase, measurements = analysis.run_analysis(self.metrics)
                events.add("analysis", phase=phase, measurements={
                    name: [[p, v] for p, v in values] for name, values in measurements.items()})
                if phase != "Successful":
                    return self.abort(version)
        return self.promote(version, stable_version)

    def promote(self, version, stable_version):
        stack, events = self.stack, self.events
        stack.set_status(version, "production")
        swap_started = time.time()
        self.live.begin("stable", version, at=swap_started)
        stack.serve_version("stable", version)
        self.live.end("stable", stable_version)
        self.traffic.canary_weight = 0.0
        time.sleep(0.5)  # requests already routed to the canary finish there
        stack.retire("canary")
        self.live.end("canary", version)
        events.add("promoted", version=version, swap_seconds=round(time.time() - swap_started, 3))
        return "promoted"

    def abort(self, version):
        self.traffic.canary_weight = 0.0
        time.sleep(0.5)
        self.stack.retire("canary")
        self.live.end("canary", version)
        self.stack.set_status(version, "archived")
        self.events.add("aborted", version=version)
        return "aborted"


def run(scenario, root, work, out, helm):
    root, work, out = pathlib.Path(root), pathlib.Path(work), pathlib.Path(out)
    assert scenario in ("happy", "bad-model", "bad-canary"), scenario
    work.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    (work / "loop-values.yaml").write_text(LOOP_VALUES)
    (work / "train.yaml").write_text(TRAINING_CONFIG)
    (work / "gates.yaml").write_text(GATES)
    data = root / ".data" / "creditcard.csv"
    # The served model's reference is a random sample of its training rows
    # (the first 80% of the data set in time). The replay walks that span
    # in time order with a stride, so that one drift window (~1,500 rows)
    # covers both days rather than one hour of one night: without injected
    # drift, live traffic looks like the reference.
    live_rows = load_rows(data, 0, 227_000, stride=150)
    write_fresh_data(work / "fresh.csv", load_rows(data, 0, 227_000, stride=2), corrupt_labels=scenario == "bad-model")

    stack = Stack(root, work, work / "train.yaml", work / "gates.yaml", drift_args=[
        "--min-samples", "1500", "--interval-secs", "1", "--cooldown-secs", "3600",
        "--drift-share", "0.3", "--share-comparison", "gt"])
    # The chart's rollout value set, with the loop's shorter pauses and windows on top.
    rollout, template = analysis.render_chart(
        helm, root / "helm" / "sluice",
        [root / "helm" / "sluice" / "ci" / "rollout-values.yaml", work / "loop-values.yaml"],
        ["analysis.model=" + MODEL])
    started = time.time()
    events, live = Events(started), LiveVersions()
    result = {"scenario": scenario, "outcome": None}
    traffic = None
    try:
        stack.start()
        stable_version = 2
        stack.serve_version("stable", stable_version)
        live.begin("stable", stable_version)
        events.add("stable_serving", version=stable_version)
        traffic = Traffic(stack.url("stable"), stack.url("canary"), live_rows)
        traffic.start()
        controller = Controller(stack, traffic, events, live, rollout,
                                analysis.template_metrics(template, stack.url("prometheus")))
        time.sleep(8)

        if scenario == "bad-canary":
            version = 3
            publish_faulty_version(stack, version)
            events.add("published", version=version, fault="input renamed")
            result["outcome"] = controller.run_canary(version, stable_version)
        else:
            if drift_detected(stack) or stack.jobs():
                raise AssertionError("drift was detected before any was injected")
            traffic.drift_shift = DRIFT_SHIFT
            events.add("drift_injected", shift=DRIFT_SHIFT)
            wait_until(lambda: drift_detected(stack), 90, "drift detected")
            events.add("drift_detected")
            job = wait_until(lambda: (stack.jobs() or [None])[0], 60, "a retraining job")
            events.add("retrain_started", job=job["job_id"], reason=job["reason"])
            job = wait_until(lambda: next((j for j in stack.jobs() if j["state"] != "running"), None), 300,
                             "the retraining job to finish", poll=1)
            gates = [{k: g.get(k) for k in ("metric", "passed", "value")} for g in job.get("gates", [])]
            events.add("retrain_finished", state=job["state"], version=job.get("published_version"), gates=gates)
            if job["state"] == "succeeded":
                result["outcome"] = controller.run_canary(job["published_version"], stable_version)
            else:
                result["outcome"] = job["state"]
        time.sleep(5)
    finally:
        if traffic:
            traffic.stop()
        result["versions_at_end"] = {str(v["version"]): v["status"] for v in stack.versions()["versions"]}
        result["metrics_at_end"] = final_metrics(stack)
        responses = traffic.snapshot() if traffic else []
        result["timeline"] = timeline.collect(stack, events, live, responses, started)
        stack.stop()
    result["events"] = events.items
    result["responses"] = summarize(responses, live)
    (out / f"loop-{scenario}.json").write_text(json.dumps(result, indent=2, default=str))
    timeline.plot(result, out / f"loop-{scenario}.png")
    return result


def final_metrics(stack):
    """The counters a person would look at after the run, from Prometheus."""
    found = {}
    for name in ("trainer_jobs_total", "trainer_gate_failures_total", "model_retrain_triggers_total"):
        try:
            with urllib.request.urlopen(f"{stack.url('prometheus')}/api/v1/query?query={name}", timeout=5) as r:
                answer = json.load(r)
        except OSError:
            continue
        found[name] = [{**sample["metric"], "value": float(sample["value"][1])} for sample in answer["data"]["result"]]
    return found


def summarize(responses, live):
    failed = [r for r in responses if r["status"] != 200]
    return {
        "total": len(responses),
        "by_role": {role: sum(1 for r in responses if r["role"] == role) for role in ("stable", "canary")},
        "failed": len(failed),
        "failed_by_role": {role: sum(1 for r in failed if r["role"] == role) for role in ("stable", "canary")},
        "failed_examples": failed[:5],
        "versions": sorted({(r["role"], r["version"]) for r in responses if r["version"]}),
        "not_live": [r for r in responses if r["status"] == 200 and not live.allows(r)][:5],
        "not_live_count": sum(1 for r in responses if r["status"] == 200 and not live.allows(r)),
    }
