"""Argo Rollouts' analysis, for this one-machine loop: the chart's rendered
Rollout steps and AnalysisTemplate (the YAML that ships, parsed), each
metric's Prometheus query and successCondition/failureCondition evaluated
as Argo's controller does (failure wins; neither = Inconclusive), measured
`count` times `interval` apart, failing past `failureLimit`."""
import json
import math
import re
import subprocess
import time
import urllib.parse
import urllib.request

DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600}


def seconds(duration):
    """A Go/Argo duration ("1m30s", "2s", or a bare number of seconds)."""
    if isinstance(duration, (int, float)):
        return float(duration)
    parts = DURATION.findall(str(duration))
    assert parts, f"not a duration: {duration!r}"
    return sum(float(n) * SECONDS[unit] for n, unit in parts)


def render_chart(helm, chart, values_files, overrides=()):
    """The chart's Rollout and AnalysisTemplate as helm renders them."""
    import yaml
    args = [str(helm), "template", "sluice", str(chart)]
    for values_file in values_files:
        args += ["-f", str(values_file)]
    for override in overrides:
        args += ["--set", override]
    text = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    objects = [o for o in yaml.safe_load_all(text) if o]
    rollout = next(o for o in objects if o["kind"] == "Rollout")
    template = next(o for o in objects if o["kind"] == "AnalysisTemplate")
    return rollout, template


def template_metrics(template, prometheus):
    """The template's metrics with `{{args.*}}` resolved (the Rollout's
    analysis step passes the Prometheus address)."""
    args = {a["name"]: a.get("value") for a in template["spec"].get("args", [])}
    args["prometheus-address"] = prometheus

    def substitute(value):
        return re.sub(r"\{\{args\.([\w-]+)\}\}", lambda m: args[m.group(1)], value)

    metrics = []
    for metric in template["spec"]["metrics"]:
        provider = metric["provider"]["prometheus"]
        metrics.append({**metric, "address": substitute(provider["address"]), "query": provider["query"]})
    return metrics


def prometheus_query(address, expr):
    url = f"{address}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as response:
        answer = json.load(response)
    assert answer["status"] == "success", answer
    return [float(sample["value"][1]) for sample in answer["data"]["result"]]


def condition(expression, result):
    """Argo's expr conditions (the operators the chart uses: && || ! len
    isNaN, comparisons), evaluated on the measurement as Argo passes a
    Prometheus vector: a list of floats."""
    python = expression.replace("&&", " and ").replace("||", " or ").replace("!isNaN", " not isNaN")
    if "!" in python.replace("!=", ""):
        raise ValueError(f"unsupported operator in {expression!r}")
    return bool(eval(python, {"__builtins__": {}}, {"len": len, "isNaN": math.isnan, "result": result}))


def measure(metric):
    """One measurement: (phase, value)."""
    result = prometheus_query(metric["address"], metric["query"])
    success = condition(metric["successCondition"], result) if metric.get("successCondition") else None
    failure = condition(metric["failureCondition"], result) if metric.get("failureCondition") else None
    if success is None:
        success = not failure
    if failure is None:
        failure = not success
    if failure:
        return "Failed", result
    return ("Successful" if success else "Inconclusive"), result


def run_analysis(metrics, on_measurement=lambda name, phase, value: None, stop=lambda: False):
    """An AnalysisRun: every metric measured each `interval` until `count`;
    a metric fails once its failures exceed `failureLimit` (inconclusive
    past `inconclusiveLimit`), and the run ends as soon as one fails.
    Returns (phase, {metric: [(phase, value), ...]})."""
    measurements = {m["name"]: [] for m in metrics}
    verdicts = {}
    interval = min(seconds(m.get("interval", "1m")) for m in metrics)
    while len(verdicts) < len(metrics) and not stop():
        for metric in metrics:
            name = metric["name"]
            if name in verdicts:
                continue
            phase, value = measure(metric)
            measurements[name].append((phase, value))
            on_measurement(name, phase, value)
            phases = [p for p, _ in measurements[name]]
            if phases.count("Failed") > int(metric.get("failureLimit", 0)):
                verdicts[name] = "Failed"
            elif phases.count("Inconclusive") > int(metric.get("inconclusiveLimit", 0)):
                verdicts[name] = "Inconclusive"
            elif len(phases) >= int(metric.get("count", 1)):
                verdicts[name] = "Successful"
        if "Failed" in verdicts.values():
            return "Failed", measurements
        if len(verdicts) < len(metrics):
            time.sleep(interval)
    if "Inconclusive" in verdicts.values() or len(verdicts) < len(metrics):
        return "Inconclusive", measurements
    return "Successful", measurements
