"""history.jsonl: a record per finished run, appended whole even by several processes at once, read back
with malformed lines skipped (one warning each)."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

from zoo.run_history import HISTORY, RunHistoryWarning, RunRecord, append_run, read_runs

REPO = Path(__file__).resolve().parent.parent


def record(**changes) -> RunRecord:
    fields = dict(entry="iris_mlp", finished="2026-12-01T10:00:00+00:00", commit="0123456789abcdef+dirty",
                  machine="Test CPU, ci-box", backend="tensorflow", seed=0, metric_name="accuracy",
                  metric_value=0.96, train_samples_per_sec=12000.5, time_to_target_s=None)
    return RunRecord(**{**fields, **changes})


def test_appended_records_read_back_in_order(tmp_path):
    first, second = record(), record(entry="fn_sin", seed=3, metric_name="r2", metric_value=None, commit=None,
                                     time_to_target_s=4.25)
    out = tmp_path / "runs"  # created by the first append
    append_run(out, first)
    append_run(out, second)
    assert read_runs(out) == [first, second]
    lines = (out / HISTORY).read_text().splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["entry"] == "iris_mlp"
    assert read_runs(tmp_path / "nowhere") == []


def test_a_record_from_a_report():
    report = json.loads((REPO / "reference" / "mnist_cnn" / "report.json").read_text())
    report["time_to_target"] = {"reached": True, "seconds": 12.5, "metric": "accuracy"}
    found = RunRecord.from_report(report, finished="2026-12-01T10:00:00+00:00", machine="box")
    assert found == RunRecord("mnist_cnn", "2026-12-01T10:00:00+00:00", report["environment"].get("git_commit"),
                              "box", "tensorflow", 0, "accuracy", report["measured"]["value"],
                              report["training"]["train_samples_per_sec"], 12.5)
    report["time_to_target"]["reached"] = False
    fresh = RunRecord.from_report(report)
    assert fresh.time_to_target_s is None and fresh.finished.endswith("+00:00")
    assert fresh.machine.startswith(report["environment"]["device"]["name"])  # the report's device, then this host


def test_malformed_lines_are_skipped_with_a_warning_each(tmp_path):
    good = record()
    append_run(tmp_path, good)
    with (tmp_path / HISTORY).open("a") as file:
        file.write("{not json\n")
        file.write("[1, 2]\n")
        file.write(json.dumps({**dataclasses.asdict(good), "seed": "zero"}) + "\n")
        file.write(json.dumps({k: v for k, v in dataclasses.asdict(good).items() if k != "entry"}) + "\n")
        file.write(json.dumps({**dataclasses.asdict(good), "finished": "yesterday"}) + "\n")
        file.write("\n")  # blank: skipped silently
        file.write('{"entry": "half a line wri')  # a writer killed mid-line, no newline
    later = record(seed=7)
    append_run(tmp_path, later)  # starts a line of its own
    with pytest.warns(RunHistoryWarning) as caught:
        found = read_runs(tmp_path)
    assert found == [good, later]
    assert [str(w.message).split(":")[1] for w in caught] == ["2", "3", "4", "5", "6", "8"]
    assert "seed" in str(caught[2].message) and "entry" in str(caught[3].message)


def test_concurrent_appenders_never_interleave(tmp_path):
    """Four processes append 40 long records each at once: every line comes back whole."""
    script = ("import sys; from pathlib import Path; from zoo.run_history import RunRecord, append_run\n"
              "for i in range(40):\n"
              "    append_run(Path(sys.argv[1]), RunRecord(sys.argv[2], '2026-12-01T10:00:00+00:00', None,\n"
              "               'm' * 6000, 'jax', i, 'accuracy', 0.5))\n")
    writers = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), f"entry{n}"]) for n in range(4)]
    assert [w.wait(timeout=60) for w in writers] == [0] * 4
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a torn line would warn
        found = read_runs(tmp_path)
    assert sorted((r.entry, r.seed) for r in found) == [(f"entry{n}", i) for n in range(4) for i in range(40)]
    assert all(len(r.machine) == 6000 for r in found)
