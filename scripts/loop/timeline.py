"""The loop's timeline: what Prometheus saw (traffic, p95 and error rate by
role, drift share), which version each server answered with, and the
events; kept as JSON and drawn as one PNG."""
import json
import time
import urllib.parse
import urllib.request

QUERIES = {
    "requests_per_s": 'sum by (role) (rate(model_inference_requests_total{model="fraud-detection"}[5s]))',
    "p95_ms": 'histogram_quantile(0.95, sum by (role, le) '
              '(rate(model_inference_duration_seconds_bucket{model="fraud-detection"}[5s]))) * 1000',
    "error_ratio": '(sum by (role) (rate(model_inference_errors_total{model="fraud-detection"}[5s])) '
                   'or sum by (role) (rate(model_inference_requests_total{model="fraud-detection"}[5s])) * 0) '
                   '/ sum by (role) (rate(model_inference_requests_total{model="fraud-detection"}[5s]))',
    "drift_share": 'max(model_drift_share{model="fraud-detection"})',
}


def query_range(prometheus, expr, start, end, step=1):
    url = f"{prometheus}/api/v1/query_range?" + urllib.parse.urlencode(
        {"query": expr, "start": start, "end": end, "step": step})
    with urllib.request.urlopen(url, timeout=10) as response:
        answer = json.load(response)
    series = {}
    for result in answer["data"]["result"]:
        label = result["metric"].get("role", "all")
        series[label] = [[float(t) - start, float(v)] for t, v in result["values"] if v not in ("NaN", "+Inf")]
    return series


def collect(stack, events, live, responses, started):
    end = time.time()
    timeline = {"duration_s": round(end - started, 1), "series": {}}
    for name, expr in QUERIES.items():
        try:
            timeline["series"][name] = query_range(stack.url("prometheus"), expr, started, end)
        except OSError as e:
            timeline["series"][name] = {"error": str(e)}
    timeline["served_versions"] = [
        {"role": i["role"], "version": i["version"], "from": round(i["from"] - started, 3),
         "to": None if i["to"] is None else round(i["to"] - started, 3)} for i in live.intervals]
    timeline["responses_per_s"] = {}
    for role in ("stable", "canary"):
        counts = {}
        for r in responses:
            if r["role"] == role:
                second = int(r["received"] - started)
                counts[second] = counts.get(second, 0) + 1
        timeline["responses_per_s"][role] = sorted(counts.items())
    return timeline


def plot(result, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series = result["timeline"]["series"]
    colours = {"stable": "tab:blue", "canary": "tab:orange", "all": "tab:green"}
    figure, axes = plt.subplots(5, 1, figsize=(11, 12), sharex=True)
    panels = [("requests_per_s", "requests/s"), ("p95_ms", "p95 latency (ms)"), ("error_ratio", "errors per request"),
              ("drift_share", "drift share")]
    for axis, (name, label) in zip(axes, panels):
        for role, points in (series.get(name) or {}).items():
            if isinstance(points, list) and points:
                axis.plot([p[0] for p in points], [p[1] for p in points], label=role, color=colours.get(role))
        axis.set_ylabel(label)
        axis.legend(loc="upper left", fontsize=8)
    versions_axis = axes[4]
    palette = ["tab:gray", "tab:blue", "tab:green", "tab:red", "tab:purple"]
    for interval in result["timeline"]["served_versions"]:
        end = interval["to"] if interval["to"] is not None else result["timeline"]["duration_s"]
        y = 1 if interval["role"] == "stable" else 0
        colour = palette[int(interval["version"]) % len(palette)]
        versions_axis.barh(y, end - interval["from"], left=interval["from"], height=0.5, color=colour, alpha=0.5,
                           edgecolor="black")
        versions_axis.text(end - 0.3, y, f"v{interval['version']}", va="center", ha="right", fontsize=8)
    versions_axis.set_yticks([0, 1], ["canary", "stable"])
    versions_axis.set_ylabel("served version")
    versions_axis.set_xlabel("seconds since start")
    for event in result["events"]:
        if event["event"] in ("set_weight",):
            continue
        for axis in axes:
            axis.axvline(event["t"], color="grey", linestyle=":", linewidth=0.8)
        label = event["event"] + (f" {event['phase']}" if "phase" in event else "")
        axes[0].annotate(label, (event["t"], 1.0), xycoords=("data", "axes fraction"), rotation=90, fontsize=7,
                         va="top", ha="right")
    figure.suptitle(f"sluice closed loop: {result['scenario']} -> {result['outcome']}")
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
