"""Throughput of every registered entry on CPU and GPU: training steps, Keras and ONNX Runtime inference.

`tox -e bench` runs this suite in full and writes pytest-benchmark JSON to benchmarks/results/;
the default test run passes --benchmark-disable, which runs every case once as a smoke test.
"""

from __future__ import annotations

import pytest

from benchmarks.conftest import RESULTS
from zoo import bench, environment

# zoo's training path may cost at most this much more than a plain Keras script (issue: within 10%).
OVERHEAD_GOAL = 1.10


# Untimed smoke runs (--benchmark-disable, the default test run) train this many steps a round, not TRAIN_STEPS.
SMOKE_STEPS = bench.WARM_STEPS + 2


def _prepare(case, benchmark):
    try:
        return bench.prepare_workload(case, steps=SMOKE_STEPS if benchmark.disabled else bench.TRAIN_STEPS)
    except bench.Skip as reason:
        pytest.skip(str(reason))


def test_throughput(case, benchmark, matmul_peak, request):
    workload = _prepare(case, benchmark)
    if benchmark.disabled:
        times = bench.measure(workload, 1)
    else:
        rounds = bench.plan_rounds(workload, request.config.getoption("--zoo-seconds"))
        benchmark.pedantic(workload.run, rounds=rounds, iterations=1)
        times = benchmark.stats.stats.data
    result = bench.figures(workload, times, matmul_peak(case.device))
    benchmark.extra_info.update(result, versions=environment.versions())
    RESULTS.append(result)
    assert result["samples_per_sec"] > 0 and result["step_time_ms"] > 0


def test_training_overhead(overhead_case, benchmark, request):
    zoo_run = _prepare(overhead_case, benchmark)
    plain = _prepare(bench.Case(overhead_case.model, "train_plain", overhead_case.device), benchmark)
    rounds = 1 if benchmark.disabled else bench.overhead_rounds(zoo_run, request.config.getoption("--zoo-seconds"))
    if benchmark.disabled:
        result = bench.overhead(zoo_run, plain, rounds)
    else:  # pytest-benchmark times the whole comparison; its figures go into extra_info
        result = benchmark.pedantic(bench.overhead, args=(zoo_run, plain, rounds), rounds=1, iterations=1)
    benchmark.extra_info.update(result, versions=environment.versions())
    RESULTS.append(result)
    assert result["overhead_ratio"] > 0
    if not benchmark.disabled:
        assert result["overhead_ratio"] <= OVERHEAD_GOAL, (
            f"zoo trains {overhead_case.model} at {result['zoo_train_samples_per_sec']:,.0f} samples/s, "
            f"a plain Keras script at {result['plain_train_samples_per_sec']:,.0f}: "
            f"{result['overhead_ratio']:.2f}× (goal ≤ {OVERHEAD_GOAL})")
