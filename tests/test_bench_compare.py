"""`zoo bench compare`: two benchmark runs compared per case and figure, gating on slowdowns.

Synthetic pytest-benchmark JSON files, plus one real short timed run of the suite (iris_mlp training):
the gate fails (exit 1, one line per regression) on a run whose relative figure was halved, passes (0) on
unchanged figures, also when the machine as a whole ran slower, and refuses unreadable input (2).
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoo import bench_compare, calibration, cli

TRAIN = "iris_mlp-train-cpu"


def _benchmark(param: str, rate: float, relative: float | None, test: str = "test_throughput") -> dict:
    extra = {"model": param.split("-")[0], "mode": "train", "device": "cpu", "backend": "tensorflow",
             "samples_per_sec": rate}
    if relative is not None:
        extra.update(relative={"samples_per_sec": relative}, calibration={"gflops": rate / relative})
    return {"group": None, "name": f"{test}[{param}]", "fullname": f"benchmarks/{test}.py::{test}[{param}]",
            "param": param, "extra_info": extra, "stats": {"median": 1.0}}


def write_run(path: Path, *benchmarks: dict) -> Path:
    """A pytest-benchmark JSON file with ``benchmarks``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine_info": {}, "commit_info": {}, "benchmarks": list(benchmarks),
                                "datetime": "2026-12-07T05:00:00+00:00", "version": "5.1.0"}), encoding="utf-8")
    return path


def compare(capsys, *argv: str, config: Path | None = None) -> tuple[int, str, str]:
    """Exit code, stdout and stderr of ``zoo bench compare ARGV`` (thresholds from ``config``, else none)."""
    config = config or Path(os.devnull)
    code = cli.main(["bench", "compare", *argv, "--config", str(config)])
    out, err = capsys.readouterr()
    return code, out, err


def test_a_slowdown_past_the_threshold_fails_with_one_line(tmp_path, capsys):
    old = write_run(tmp_path / "old.json", _benchmark(TRAIN, 50_000, 330.0), _benchmark("mnist_mlp-train-cpu", 20_000, 130.0))
    new = write_run(tmp_path / "new.json", _benchmark(TRAIN, 25_000, 165.0), _benchmark("mnist_mlp-train-cpu", 20_000, 128.0))
    code, out, err = compare(capsys, str(old), str(new))
    assert code == 1
    assert err.splitlines() == [f"regression: test_throughput/{TRAIN} samples_per_sec (relative): 330 -> 165 (-50.0%), "
                                f"slower than the threshold allows ({bench_compare.DEFAULT_THRESHOLD:.0%} slowdown)"]
    assert "SLOWER" in out and "mnist_mlp-train-cpu" in out and "-1.5%" in out


def test_unchanged_relative_figures_pass_on_a_slower_day(tmp_path, capsys):
    """The whole machine at a third of its speed: absolute rates fall 67%, relative ones stay within the spread."""
    old = write_run(tmp_path / "old.json", _benchmark(TRAIN, 60_000, 330.0))
    new = write_run(tmp_path / "new.json", _benchmark(TRAIN, 20_000, 330.0 * 0.9))
    code, out, err = compare(capsys, str(old), str(new))
    assert (code, err) == (0, "")
    assert "relative" in out and "-10.0%" in out and "absolute" not in out


def test_runs_without_calibration_compare_absolute_rates_and_say_so(tmp_path, capsys):
    old = write_run(tmp_path / "old.json", _benchmark(TRAIN, 60_000, None))
    new = write_run(tmp_path / "new.json", _benchmark(TRAIN, 20_000, 330.0))
    code, out, err = compare(capsys, str(old), str(new))
    assert code == 1 and "(absolute)" in err
    assert "note: 1 case(s) compared on absolute rates" in out


def test_pyproject_overrides_a_case_threshold(tmp_path, capsys):
    config = tmp_path / "pyproject.toml"
    config.write_text('[tool.zoo.bench.thresholds]\n"*/iris_mlp-*" = 0.6\n', encoding="utf-8")
    old = write_run(tmp_path / "old.json", _benchmark(TRAIN, 50_000, 330.0))
    new = write_run(tmp_path / "new.json", _benchmark(TRAIN, 25_000, 165.0))
    code, out, _ = compare(capsys, str(old), str(new), config=config)
    assert code == 0 and "-60%" in out
    assert bench_compare.load_thresholds(Path(__file__).resolve().parent.parent / "pyproject.toml") == {}
    assert bench_compare.threshold_for("test_throughput/mnist_mlp-infer_onnx-cpu-b1", {}) == \
        bench_compare.DEFAULT_THRESHOLDS["*-infer_*"]


@pytest.mark.parametrize("value", ["1.5", '"fast"', "0"])
def test_a_bad_threshold_is_one_line(tmp_path, capsys, value):
    config = tmp_path / "pyproject.toml"
    config.write_text(f'[tool.zoo.bench.thresholds]\n"*" = {value}\n', encoding="utf-8")
    run = write_run(tmp_path / "run.json", _benchmark(TRAIN, 50_000, 330.0))
    code, _, err = compare(capsys, str(run), str(run), config=config)
    assert code == 2 and len(err.splitlines()) == 1 and "between 0 and 1" in err


@pytest.mark.parametrize("content, says", [("{", "not JSON"), ('{"benchmarks": 3}', "no 'benchmarks' list"),
                                           ("[]", "no 'benchmarks' list"), (None, "no such file")])
def test_malformed_or_missing_files_are_one_line_errors(tmp_path, capsys, content, says):
    good = write_run(tmp_path / "good.json", _benchmark(TRAIN, 50_000, 330.0))
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content, encoding="utf-8")
    code, out, err = compare(capsys, str(good), str(bad))
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and err.startswith("zoo: error: ") and says in err


def test_defaults_are_the_two_newest_runs_of_this_machine(tmp_path, capsys):
    folder = tmp_path / bench_compare.machine_id()
    write_run(folder / "0001_old.json", _benchmark(TRAIN, 50_000, 100.0))
    write_run(folder / "0002_base.json", _benchmark(TRAIN, 50_000, 330.0))
    write_run(folder / "0003_new.json", _benchmark(TRAIN, 50_000, 320.0))
    code, out, _ = compare(capsys, "--storage", str(tmp_path))
    assert code == 0 and "0002_base.json" in out and "0003_new.json" in out
    code, out, _ = compare(capsys, "new", "0001", "--storage", str(tmp_path))  # a name's prefix, a number
    assert code == 1 and "0001_old.json" in out and "0003_new.json" in out
    code, _, err = compare(capsys, "000", "0003", "--storage", str(tmp_path))
    assert code == 2 and "ambiguous" in err
    code, _, err = compare(capsys, "--storage", str(tmp_path / "empty"))
    assert code == 2 and "0 run(s)" in err and len(err.splitlines()) == 1


def test_bench_compare_is_dispatched_without_breaking_model_names():
    assert cli._parse(["bench", "iris_mlp", "--seconds", "1"]).names == ["iris_mlp"]
    assert cli._parse(["bench", "--all"]).handler is cli.cmd_bench
    args = cli._parse(["--verbose", "bench", "compare", "0001", "0002", "--storage", "x"])
    assert (args.handler, args.baseline, args.new, args.storage) == (cli.cmd_bench_compare, "0001", "0002", Path("x"))


def test_comparing_imports_no_keras(tmp_path):
    run = write_run(tmp_path / "run.json", _benchmark(TRAIN, 50_000, 330.0))
    code = ("import sys; from zoo.cli import main; import zoo.calibration; "
            f"rc = main(['bench', 'compare', {str(run)!r}, {str(run)!r}]); "
            "assert not {'keras', 'tensorflow', 'jax'} & set(sys.modules), 'imported a backend'; sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_relative_figures_divide_by_the_calibration():
    reading = calibration.Calibration(100.0, 200.0)
    assert reading.gflops == 200.0 and reading.drift == 0.5
    assert calibration.relative({"samples_per_sec": 4000, "step_time_ms": 3.0, "x": True}, reading) == {"samples_per_sec": 20.0}
    assert calibration.measure_gflops(size=64, repeats=1, trials=2) > 0


def test_a_real_timed_run_gates_both_ways(tmp_path, capsys):
    """One short timed run of the suite records the calibration beside the case; the run against itself
    passes, and against a copy with the training case's relative rate halved (a slowdown injected into
    the training path) fails on that case alone."""
    out = tmp_path / "run.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}  # not an xdist worker there
    env.update(KERAS_BACKEND="tensorflow", TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-m", "pytest", "benchmarks/test_throughput.py", "-q", "-p", "no:cacheprovider",
                           "-k", f"test_throughput and {TRAIN}", "--zoo-devices", "cpu", "--zoo-seconds", "0.05",
                           "--benchmark-enable", f"--benchmark-json={out}", "-p", "no:xdist"],
                          cwd=Path(__file__).resolve().parent.parent, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    data = json.loads(out.read_text(encoding="utf-8"))
    (timed,) = data["benchmarks"]
    extra = timed["extra_info"]
    assert extra["calibration"]["kind"] == calibration.KIND and extra["calibration"]["before_gflops"] > 0
    assert extra["relative"]["samples_per_sec"] == pytest.approx(extra["samples_per_sec"] / extra["calibration"]["gflops"])

    code, _, err = compare(capsys, str(out), str(out))
    assert (code, err) == (0, "")
    slowed = copy.deepcopy(data)
    slowed["benchmarks"][0]["extra_info"]["relative"]["samples_per_sec"] /= 2
    slow = tmp_path / "slow.json"
    slow.write_text(json.dumps(slowed), encoding="utf-8")
    code, _, err = compare(capsys, str(out), str(slow))
    assert code == 1 and len(err.splitlines()) == 1
    assert err.startswith(f"regression: test_throughput/{TRAIN} samples_per_sec (relative): ") and "(-50.0%)" in err
