"""The traffic generator: replays the real fraud data in time order, a few
rows a request, split between the stable and the canary server by the
current canary weight (what a traffic router does), optionally with drift
injected into the inputs. Every response is kept: when, where, its status
and the version that answered."""
import csv
import json
import random
import threading
import time
import urllib.error
import urllib.request

FEATURES = ["Time"] + [f"V{i}" for i in range(1, 29)] + ["Amount"]


def load_rows(path, start, stop, stride=1):
    """Every `stride`-th row of the data set in [start, stop), in time
    order: (features, label)."""
    rows = []
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        for i, row in enumerate(reader):
            if i >= stop:
                break
            if i >= start and (i - start) % stride == 0:
                rows.append(([float(row[c]) for c in FEATURES], int(float(row["Class"]))))
    return rows


def drifted(features, shift):
    """The drift the loop injects: V1..V12 moved by `shift` (their scale is
    about 1 to 2), as if an upstream feature pipeline changed."""
    return [x + shift if 1 <= i <= 12 else x for i, x in enumerate(features)]


class Traffic:
    def __init__(self, stable_url, canary_url, rows, workers=4, rows_per_request=4, pause=0.03, seed=7):
        self.urls = {"stable": stable_url, "canary": canary_url}
        self.rows, self.workers, self.rows_per_request, self.pause = rows, workers, rows_per_request, pause
        self.canary_weight = 0.0
        self.drift_shift = 0.0
        self.responses = []
        self._lock = threading.Lock()
        self._cursor = 0
        self._stop = threading.Event()
        self._threads = []
        self._random = random.Random(seed)

    def _next_rows(self):
        with self._lock:
            start = self._cursor
            self._cursor = (self._cursor + self.rows_per_request) % (len(self.rows) - self.rows_per_request)
            role = "canary" if self._random.random() < self.canary_weight else "stable"
        batch = [f for f, _ in self.rows[start:start + self.rows_per_request]]
        if self.drift_shift:
            batch = [drifted(f, self.drift_shift) for f in batch]
        return role, batch

    def _worker(self):
        while not self._stop.is_set():
            role, batch = self._next_rows()
            body = json.dumps({"inputs": [{"name": "features", "shape": [len(batch), 30], "datatype": "FP32",
                                           "data": [x for row in batch for x in row]}]}).encode()
            request = urllib.request.Request(f"{self.urls[role]}/v2/models/fraud-detection/infer", data=body,
                                             headers={"Content-Type": "application/json"}, method="POST")
            sent = time.time()
            version, status, error = None, None, None
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    status = response.status
                    version = json.loads(response.read()).get("model_version")
            except urllib.error.HTTPError as e:
                status, error = e.code, e.read().decode(errors="replace")[:200]
            except OSError as e:
                status, error = 0, str(e)
            with self._lock:
                self.responses.append({"sent": sent, "received": time.time(), "role": role, "status": status,
                                       "version": version, "error": error})
            time.sleep(self.pause)

    def start(self):
        for _ in range(self.workers):
            thread = threading.Thread(target=self._worker, daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self):
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    def snapshot(self):
        with self._lock:
            return list(self.responses)
