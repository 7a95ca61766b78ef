"""A small made-up history for the leaderboard's charts: stored benchmark runs (one slowed past the gate's
threshold) and zoo runs in history.jsonl, under entries with reports of their own. No training."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from zoo.report import SCHEMA
from zoo.run_history import RunRecord, append_run

MACHINE = "Test CPU, ci-box"
BASE = {("iris_mlp", "train", 32): 1000.0, ("iris_mlp", "infer_keras", 1): 100.0,
        ("iris_mlp", "infer_keras", 256): 10000.0, ("fn_sin", "train", 32): 2000.0,
        ("fn_sin", "infer_onnx", 1): 500.0}
SLOWED = "test_throughput/iris_mlp-train-cpu"  # the case the third run slows past the 30% threshold
# (file, date, commit, backend, rates, calibration): the gate compares each run with the one before it of the
# same backend. 0002: training -5% and Keras inference at batch 1 -50% (inference may lose 60%): not flagged.
# 0003: iris_mlp training -47%: flagged. 0004: the first jax run, ten times slower: nothing to compare with.
# 0005: every absolute rate halved on a machine half as fast (calibration 0.5): relative rates unchanged.
RUNS = [
    ("0001_a.json", "2026-11-01T12:00:00", "1111111aaaaaaaa", "tensorflow", BASE, 1.0),
    ("0002_b.json", "2026-11-02T12:00:00", "2222222bbbbbbbb", "tensorflow",
     {**BASE, ("iris_mlp", "train", 32): 950.0, ("iris_mlp", "infer_keras", 1): 50.0}, 1.0),
    ("0003_c.json", "2026-11-03T12:00:00", "3333333cccccccc", "tensorflow",
     {**BASE, ("iris_mlp", "train", 32): 500.0, ("iris_mlp", "infer_keras", 1): 50.0}, 1.0),
    ("0004_d.json", "2026-11-04T12:00:00", "4444444dddddddd", "jax", {k: v / 10 for k, v in BASE.items()}, 1.0),
    ("0005_e.json", "2026-11-05T12:00:00", "5555555eeeeeeee", "tensorflow",
     {**{k: v / 2 for k, v in BASE.items()}, ("iris_mlp", "train", 32): 250.0, ("iris_mlp", "infer_keras", 1): 25.0},
     0.5),
]
RECORD = RunRecord("iris_mlp", "2026-11-01T13:00:00+00:00", "1111111aaaaaaaa", "AMD EPYC (2 cores), ci-box",
                   "tensorflow", 0, "accuracy", 0.95, 3000.0, 2.5)
RECORDS = [RECORD, dataclasses.replace(RECORD, finished="2026-11-03T13:00:00+00:00", commit="3333333cccccccc",
                                       metric_value=0.97),
           dataclasses.replace(RECORD, finished="2026-11-04T13:00:00+00:00", backend="jax", metric_value=0.9),
           dataclasses.replace(RECORD, entry="fn_sin", metric_name="r2", metric_value=0.99, commit=None),
           dataclasses.replace(RECORD, entry="fn_sin", metric_name="r2", metric_value=0.98,
                               finished="2026-11-05T13:00:00+00:00")]


def bench_run(path: Path, when: str, commit: str, backend: str, rates: dict, calibration: float = 1.0) -> Path:
    """A run as pytest-benchmark stores it: per (model, mode, batch) its samples/s, each also relative to the
    calibration timed beside it (rate / calibration, as ``zoo.calibration`` records it)."""
    benchmarks = []
    for (model, mode, batch), rate in rates.items():
        param = f"{model}-{mode}-cpu" + ("" if mode == "train" else f"-b{batch}")
        kind = "train" if mode == "train" else "infer"
        benchmarks.append({"name": f"test_throughput[{param}]", "param": param, "stats": {"mean": batch / rate},
                           "extra_info": {"model": model, "mode": mode, "device": "cpu", "backend": backend,
                                          "batch_size": batch, f"{kind}_samples_per_sec": rate,
                                          "samples_per_sec": rate,
                                          "relative": {"samples_per_sec": rate / calibration}}})
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine_info": {"node": "ci-box", "cpu": {"brand_raw": "Test CPU"}},
                                "commit_info": {"id": commit, "dirty": False, "branch": "main"},
                                "datetime": when, "version": "5.1.0", "benchmarks": benchmarks}))
    return path


def write_runs(folder: Path) -> Path:
    """RUNS as files under ``folder/<machine>/``; returns ``folder``."""
    for name, when, commit, backend, rates, calibration in RUNS:
        bench_run(folder / "Linux-CPython-3.11-64bit" / name, when, commit, backend, rates, calibration)
    return folder


def report(name: str, metric: str = "accuracy", value: float = 0.9) -> dict:
    """The parts of a zoo report the leaderboard reads."""
    return {"schema": SCHEMA, "model": name, "dataset": "toy", "task": "classification", "description": name,
            "measured": {"metric": metric, "value": value}, "reference": {"metric": metric, "value": None},
            "training": {"params": 10}}


def write_board(out: Path) -> Path:
    """Entries iris_mlp, fn_sin (both with runs) and mnist_mlp (none) under ``out``, with RECORDS and a torn line in
    history.jsonl."""
    for name, metric in (("iris_mlp", "accuracy"), ("fn_sin", "r2"), ("mnist_mlp", "accuracy")):
        (out / name).mkdir(parents=True)
        (out / name / "report.json").write_text(json.dumps(report(name, metric)))
    for record in RECORDS[:3]:
        append_run(out, record)
    with (out / "history.jsonl").open("a") as file:
        file.write('{"entry": "fn_sin", "finis\n')
    for record in RECORDS[3:]:
        append_run(out, record)
    return out
