"""sluice-drift's numbers against Evidently's own (its legacy DataDriftPreset,
which calls scipy): every per-feature score to 1e-6 (p-values to 1e-6
relative), every verdict and the dataset verdict equal. Runs in .venv-drift.

Data: the real credit-card fraud set (an earlier against a later time slice)
and synthetic drift from `sluice-trainer synth`."""
import json
import os
import pathlib
import subprocess
import warnings

import numpy as np
import pandas as pd
import pytest
from evidently.legacy.metric_preset import DataDriftPreset
from evidently.legacy.pipeline.column_mapping import ColumnMapping
from evidently.legacy.report import Report
from scipy.stats import ks_2samp

ROOT = pathlib.Path(__file__).resolve().parents[2]
DRIFT = pathlib.Path(os.environ.get("SLUICE_DRIFT_BIN", ROOT / "target" / "debug" / "sluice-drift"))
TRAINER = pathlib.Path(os.environ.get("SLUICE_TRAINER_BIN", ROOT / "target" / "debug" / "sluice-trainer"))
FEATURES = ["Time"] + [f"V{i}" for i in range(1, 29)] + ["Amount"]
METHOD_NAMES = {"Wasserstein distance (normed)": "wasserstein", "K-S p_value": "ks", "PSI": "psi",
                "Jensen-Shannon distance": "jensenshannon", "chi-square p_value": "chisquare", "Z-test p_value": "z"}
P_VALUE_METHODS = {"ks", "chisquare", "z"}

warnings.filterwarnings("ignore")


@pytest.fixture(scope="module")
def fraud():
    data = ROOT / ".data" / "creditcard.csv"
    assert data.exists(), f"{data} is missing: run make setup"
    return pd.read_csv(data)


def evidently(reference, current, stattest=None, categorical=()):
    mapping = ColumnMapping(numerical_features=[c for c in reference.columns if c not in categorical],
                            categorical_features=list(categorical), target=None, prediction=None)
    report = Report(metrics=[DataDriftPreset(stattest=stattest)])
    report.run(reference_data=reference, current_data=current, column_mapping=mapping)
    (table,) = [m["result"] for m in report.as_dict()["metrics"] if m["metric"] == "DataDriftTable"]
    return table


def sluice_drift(tmp_path, reference, current, *flags):
    ref, cur = tmp_path / "reference.csv", tmp_path / "current.csv"
    # repr-exact floats: both tools must see the same numbers.
    reference.to_csv(ref, index=False, float_format="%.17g")
    current.to_csv(cur, index=False, float_format="%.17g")
    done = subprocess.run([str(DRIFT), "score", "--reference", ref, "--current", cur, "--json", *flags],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def assert_same(ours, theirs):
    assert set(ours["features"]) == set(theirs["drift_by_columns"])
    for name, column in theirs["drift_by_columns"].items():
        mine = ours["features"][name]
        method = METHOD_NAMES[column["stattest_name"]]
        assert mine["method"] == method, (name, mine, column["stattest_name"])
        expected = float(column["drift_score"])
        if method in P_VALUE_METHODS:
            assert mine["score"] == pytest.approx(expected, rel=1e-6, abs=1e-300), (name, mine, expected)
        else:
            assert mine["score"] == pytest.approx(expected, abs=1e-6), (name, mine, expected)
        assert mine["drifted"] == column["drift_detected"], (name, mine, column)
        assert mine["threshold"] == pytest.approx(column["stattest_threshold"])
    assert ours["drift_share"] == pytest.approx(theirs["share_of_drifted_columns"])
    assert ours["dataset_drift"] == theirs["dataset_drift"]


@pytest.mark.parametrize("stattest", [None, "psi", "jensenshannon", "wasserstein", "ks"])
def test_real_data_earlier_vs_later_slice(fraud, tmp_path, stattest):
    reference = fraud.iloc[:20000][FEATURES]
    current = fraud.iloc[200000:210000][FEATURES]
    flags = ["--method", stattest] if stattest else []
    ours = sluice_drift(tmp_path, reference, current, *flags)
    assert_same(ours, evidently(reference, current, stattest))


def test_small_reference_gets_ks_and_categories_get_chi_square_and_z(fraud, tmp_path):
    """At 1000 reference rows or fewer Evidently switches to p-value tests."""
    reference = fraud.iloc[:800][FEATURES + ["Class"]].copy()
    current = fraud.iloc[150000:153000][FEATURES + ["Class"]].copy()
    for frame in (reference, current):
        frame["band"] = np.digitize(frame["V1"], [-1.0, 1.0]).astype(float)  # three categories
    ours = sluice_drift(tmp_path, reference, current, "--categorical", "band,Class")
    theirs = evidently(reference, current, categorical=("band", "Class"))
    assert_same(ours, theirs)
    assert ours["features"]["V3"]["method"] == "ks"
    assert (ours["features"]["band"]["method"], ours["features"]["Class"]["method"]) == ("chisquare", "z")


def test_synthetic_drift_is_found_where_injected(tmp_path):
    def synth(name, seed, *drift):
        path = tmp_path / name
        done = subprocess.run([str(TRAINER), "synth", "--rows", "6000", "--seed", str(seed), "--out", path, *drift],
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
        return pd.read_csv(path)[FEATURES]

    reference = synth("reference.csv", 1)
    current = synth("current.csv", 2, "--shift", "V3=1.0", "--scale", "Amount=2.5", "--rare", "V7=0.05")
    ours = sluice_drift(tmp_path, reference, current)
    assert_same(ours, evidently(reference, current))
    drifted = set(ours["drifted_features"])
    assert {"V3", "Amount", "V7"} <= drifted, drifted
    for stattest in ("psi", "jensenshannon"):
        assert_same(sluice_drift(tmp_path, reference, current, "--method", stattest), evidently(reference, current, stattest))


@pytest.mark.parametrize("sizes", [(50, 50), (300, 700), (1000, 10000), (999, 4000), (2000, 12000),
                                   (60, 20000), (20000, 30000), (150000, 160000)])
def test_ks_p_values_against_scipy(tmp_path, sizes):
    """Up to 10,000 rows a side scipy counts lattice paths exactly; beyond it
    it evaluates kstwo.sf(d, round(en)), whose algorithm depends on en and
    en*d^2 (Durbin matrix, Pomeranz, Smirnov's sum, Pelz-Good). The shift is
    scaled so that each size lands mid-distribution, where p is informative."""
    rng = np.random.default_rng(sum(sizes))
    effective = sizes[0] * sizes[1] / sum(sizes)
    reference = pd.DataFrame({"x": rng.normal(0, 1, sizes[0])})
    current = pd.DataFrame({"x": rng.normal(2.0 / np.sqrt(effective), 1, sizes[1])})
    ours = sluice_drift(tmp_path, reference, current, "--method", "ks")["features"]["x"]["score"]
    expected = ks_2samp(reference["x"], current["x"]).pvalue
    assert ours == pytest.approx(expected, rel=1e-6, abs=1e-300), (sizes, ours, expected)
