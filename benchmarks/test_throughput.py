"""Throughput of every registered entry on CPU and GPU: training steps, Keras and ONNX Runtime inference
(the float export; on CPU also its int8 copy and its batch-1 ORT-format mobile copy, as `zoo export` writes them).

`tox -e bench` runs this suite in full and writes pytest-benchmark JSON to benchmarks/results/;
the default test run passes --benchmark-disable, which runs every case once as a smoke test.
"""

from __future__ import annotations

import fnmatch

import pytest

from benchmarks.conftest import RESULTS
from zoo import bench, environment

# zoo's training speed over a plain Keras script with the same math (issue 12), per entry (fnmatch patterns),
# on the steady state of each fit call, the suite's measure of training speed; every other entry must not be
# slower, and neither may any entry on whole fit calls, start-up included (zoo's own per-call work counted).
# Asserted only when the suite is timed, on CPU. The per-entry goals were set on TensorFlow, whose several
# steps per call run in one graph; Keras' JAX trainer runs them as a Python loop over the jitted step, which
# saves less, so under JAX (and torch) the floor applies and the ratio is recorded. GPU figures are recorded.
SPEEDUP_GOALS = {"iris_mlp": 2.0, "fn_*": 2.0}
GOAL_BACKENDS = ("tensorflow",)
SPEEDUP_FLOOR = 1.0
# Where zoo runs Keras' own one-step loop, exactly as the plain script does (a heavy step, or torch, which
# refuses more steps per call), the two sides are the same code and only noise tells them apart: there the
# floor is checked to within the spread of such same-code comparisons on the shared 2-core machine (zoo/plain
# time ratios of 0.90-1.08 in the committed run of 2026-11-23; the suite's old overhead goal was the same 10%).
SAME_CODE_NOISE = 0.10


def speedup_goal(model: str, steps_per_execution: int, backend: str) -> float:
    """The speedup ``model`` must reach when zoo runs ``steps_per_execution`` steps per backend call."""
    if steps_per_execution == 1:
        return SPEEDUP_FLOOR * (1 - SAME_CODE_NOISE)
    goals = SPEEDUP_GOALS if backend in GOAL_BACKENDS else {}
    return next((goal for pattern, goal in goals.items() if fnmatch.fnmatchcase(model, pattern)), SPEEDUP_FLOOR)


# Untimed smoke runs (--benchmark-disable, the default test run) train this many steps a round, not
# bench.round_steps.
SMOKE_STEPS = bench.WARM_STEPS + 2


def _prepare(case, benchmark):
    try:
        return bench.prepare_workload(case, steps=SMOKE_STEPS if benchmark.disabled else None)
    except bench.Skip as reason:
        pytest.skip(str(reason))


def test_throughput(case, benchmark, calibrated, matmul_peak, request):
    workload = _prepare(case, benchmark)
    if benchmark.disabled:
        times = bench.measure(workload, 1)
    else:
        rounds = bench.plan_rounds(workload, request.config.getoption("--zoo-seconds"))
        calibrated(workload.run, rounds=rounds, iterations=1)
        times = benchmark.stats.stats.data
    result = bench.figures(workload, times, matmul_peak(case.device))
    benchmark.extra_info.update(result, versions=environment.versions())
    RESULTS.append(result)
    assert result["samples_per_sec"] > 0 and result["step_time_ms"] > 0
    if case.mode in ("infer_onnx", *bench.CPU_ONLY_MODES):  # tables show each model file's size
        assert result["onnx_bytes"] > 0
    if case.mode == "infer_int8":
        assert result["quantization"] in ("static", "dynamic")


def test_training_overhead(overhead_case, benchmark, calibrated, request):
    zoo_run = _prepare(overhead_case, benchmark)
    plain = _prepare(bench.Case(overhead_case.model, "train_plain", overhead_case.device), benchmark)
    rounds = 1 if benchmark.disabled else bench.overhead_rounds(zoo_run, request.config.getoption("--zoo-seconds"))
    if benchmark.disabled:
        result = bench.overhead(zoo_run, plain, rounds)
    else:  # pytest-benchmark times the whole comparison; its figures go into extra_info
        result = calibrated(bench.overhead, args=(zoo_run, plain, rounds), rounds=1, iterations=1)
    benchmark.extra_info.update(result, versions=environment.versions())
    RESULTS.append(result)
    assert result["speedup"] > 0 and result["steady_speedup"] > 0
    if not benchmark.disabled and overhead_case.device == "cpu":
        calls = result["steps_per_execution"]
        goal = speedup_goal(overhead_case.model, calls, result["backend"])
        floor = speedup_goal("", calls, result["backend"])
        rates = (f"zoo trains {overhead_case.model} at {result['zoo_steady_samples_per_sec']:,.0f} samples/s "
                 f"(steady), {result['zoo_train_samples_per_sec']:,.0f} (whole fit calls); a plain Keras script at "
                 f"{result['plain_steady_samples_per_sec']:,.0f} and {result['plain_train_samples_per_sec']:,.0f}; "
                 f"{calls} steps per call")
        assert result["steady_speedup"] >= goal, f"{rates}: {result['steady_speedup']:.2f}× (goal ≥ {goal:.2f}×)"
        assert result["speedup"] >= floor, f"{rates}: {result['speedup']:.2f}× on whole calls (goal ≥ {floor:.2f}×)"
