"""Time to target and seed spread: the clock's schedule and record, that timing changes nothing trained, the
spread's rule, the report's sections, and `zoo run --seeds` end to end."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

import zoo
from plugin_fakes import tiny_dataset
from zoo.datasets import load_dataset
from zoo.errors import InvalidSpecError, ZooError
from zoo.prepare import prepare
from zoo.report import render_markdown
from zoo.seeds import parse_seeds, summarize
from zoo.time_to_target import target_clock
from zoo.training import TrainSettings, train


def spec(target: float | None, epochs: int = 6, steps_per_epoch: int | None = None) -> zoo.ModelSpec:
    """A small dropout classifier on the tiny dataset, timed to ``target`` accuracy."""
    import keras

    def build():
        return keras.Sequential([keras.Input((2,)), keras.layers.Dense(16, activation="relu"),
                                 keras.layers.Dropout(0.3), keras.layers.Dense(2, activation="softmax")])

    return zoo.ModelSpec(name="timed", dataset="tiny", build=build, description="dense", tutorial=zoo.Tutorial("t", "s"),
                         reference=zoo.Reference("accuracy", None), compile=zoo.CompileSettings(),
                         fit=zoo.FitSettings(epochs, 8, steps_per_epoch),
                         quality_target=None if target is None else zoo.QualityTarget("accuracy", target, "test"))


def timed_training(model_spec, steps_per_execution=None):
    data = prepare(model_spec, tiny_dataset(), load_dataset(tiny_dataset()))
    settings = dataclasses.replace(TrainSettings.of(model_spec, seed=3), steps_per_execution=steps_per_execution)
    clock = target_clock(model_spec, data, settings)  # 30 rows in batches of 8: 4 steps an epoch
    result = train(model_spec, data, settings, device="cpu", verbose=0, callbacks=[clock] if clock else None)
    return result, clock


def test_timing_changes_nothing_trained_and_is_left_out_of_the_training_time():
    plain, _ = timed_training(spec(None))
    timed, clock = timed_training(spec(2.0))  # never reached: scored at every interval
    for a, b in zip(plain.model.get_weights(), timed.model.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert plain.history == timed.history
    record = clock.record()
    assert record["reached"] is False and record["seconds"] is None and record["steps"] is None
    assert [e["step"] for e in record["evaluations"]] == list(range(record["interval_steps"], 25, record["interval_steps"])
                                                           )[:len(record["evaluations"])]
    assert record["evaluations"][-1]["step"] == 24 == record["total_steps"]
    seconds = [e["seconds"] for e in record["evaluations"]]
    assert seconds == sorted(seconds) and seconds[-1] <= timed.train_seconds + 1e-6
    assert 0 < clock.excluded_seconds and timed.train_seconds < timed.wall_seconds


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_the_clock_stops_at_the_first_scoring_over_the_target(steps_per_execution):
    _, clock = timed_training(spec(0.0, epochs=3), steps_per_execution)
    record = clock.record()
    assert record["reached"] is True and len(record["evaluations"]) == 1
    assert record["steps"] == record["interval_steps"] and record["interval_steps"] % steps_per_execution == 0
    assert record["epochs"] == record["steps"] / 4 and record["seconds"] > 0


def test_the_target_comes_from_the_tutorial_unless_stated():
    base = spec(None)
    assert base.time_target is None  # no number from the tutorial, none stated
    from_tutorial = dataclasses.replace(base, reference=zoo.Reference("accuracy", 0.9, "note"))
    assert (from_tutorial.time_target.value, from_tutorial.time_target.note) == (0.9, "the tutorial's number")
    assert dataclasses.replace(from_tutorial, quality_target=zoo.QualityTarget("accuracy", 0.8)).time_target.value == 0.8
    with pytest.raises(InvalidSpecError, match="headline one"):
        dataclasses.replace(base, quality_target=zoo.QualityTarget("r2", 0.9))
    with pytest.raises(InvalidSpecError, match="metric must be"):
        zoo.QualityTarget("mse", 0.1)


def test_seeds_parse_ranges_and_lists():
    assert parse_seeds("0-4") == (0, 1, 2, 3, 4)
    assert parse_seeds("3,0-2,3") == (3, 0, 1, 2)
    for bad in ("4-0", "x", "1,", "-3"):
        with pytest.raises(ZooError, match="--seeds 0-4"):
            parse_seeds(bad)


def seed_report(value, seconds, rate=100.0):
    reached = seconds is not None
    return {"measured": {"metric": "accuracy", "value": value}, "training": {"train_samples_per_sec": rate},
            "time_to_target": {"target": 0.9, "reached": reached, "seconds": seconds, "steps": 10 if reached else None}}


def test_the_spread_keeps_every_seed_and_counts_a_miss_as_slowest():
    reports = {0: seed_report(0.95, 2.0), 1: seed_report(0.97, 1.0), 2: seed_report(0.85, None),
               3: seed_report(0.96, 3.0), 4: "zoo: error: boom"}
    summary = summarize(reports, (0, 1, 2, 3, 4), 2)
    assert (summary["median"], summary["min"], summary["max"]) == (0.955, 0.85, 0.97)
    times = summary["time_to_target"]
    assert (times["reached"], times["of"]) == (3, 4)
    assert (times["median"], times["min"], times["max"]) == (2.0, 1.0, None)  # the miss is the max
    assert summary["failed"] == {"4": "zoo: error: boom"} and summary["processes_at_once"] == 2
    never = summarize({0: seed_report(0.5, None), 1: seed_report(0.6, None)}, (0, 1), 1)["time_to_target"]
    assert (never["reached"], never["median"], never["min"]) == (0, None, None)


def test_the_report_shows_time_to_target_and_the_seeds():
    import zoo.report

    report = json.loads((zoo.report.Path(zoo.__file__).parent.parent / "reference" / "iris_mlp" / "report.json")
                        .read_text())
    report["time_to_target"] = {"metric": "accuracy", "target": 0.947, "note": "the tutorial's number", "reached": True,
                                "seconds": 1.25, "steps": 1200, "epochs": 8.0, "best": 0.97, "interval_steps": 300,
                                "total_steps": 1500, "scoring_seconds": 0.2,
                                "evaluations": [{"step": 300, "seconds": 0.5, "value": 0.6},
                                                {"step": 1200, "seconds": 1.25, "value": 0.97}]}
    report["seeds"] = summarize({0: seed_report(0.95, 2.0), 1: seed_report(0.85, None)}, (0, 1), 1)
    md = render_markdown(report)
    assert "accuracy ≥ 94.70% after 1.2 s of training, 1,200 steps (8.00 epochs)" in md
    assert "| 1,200 | 1.25 | 97.00% |" in md
    assert "| 1 | 85.00% | — | 100 |" in md and "1 of 2 seeds reached the target" in md
    assert "| **median (min–max)** | 90.00% (85.00%–95.00%) | 2.0 (2.0–not reached) |" in md


def test_zoo_run_seeds_trains_each_seed_and_keeps_the_first(tmp_path):
    out = tmp_path / "runs"
    done = subprocess.run([sys.executable, "-m", "zoo", "run", "fn_square", "--seeds", "4,7", "--jobs", "2",
                           "--epochs", "8", "--out", str(out)], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads((out / "fn_square" / "report.json").read_text())
    assert report["training"]["seed"] == 4 and report["onnx"]["file"] == "model.onnx"
    seeds = report["seeds"]
    assert seeds["seeds"] == [4, 7] and seeds["failed"] == {} and seeds["processes_at_once"] == 2
    assert seeds["values"]["4"] == report["measured"]["value"] and seeds["values"]["7"] != seeds["values"]["4"]
    assert report["time_to_target"]["target"] == 0.98 and len(report["time_to_target"]["evaluations"]) >= 1
    assert "seeds: median (min–max)" in done.stdout and "## Seeds" in (out / "fn_square" / "report.md").read_text()
    assert {p.name for p in out.iterdir()} <= {"fn_square", "history.jsonl", "index.html", "manifest.json"}


def test_zoo_run_seeds_refuses_what_it_cannot_do(tmp_path):
    from zoo.cli import main

    assert main(["run", "fn_square", "--seeds", "0-1", "--resume", "--out", str(tmp_path)]) == 1
    assert main(["run", "fn_square", "--jobs", "2", "--out", str(tmp_path)]) == 1
    with pytest.raises(SystemExit):
        main(["run", "fn_square", "--seeds", "0-1", "--seed", "3"])
