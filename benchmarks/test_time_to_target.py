"""Time to accuracy, as DAWNBench and MLPerf Training measure it: every entry trained with zoo's own path on the
CPU until it reaches its quality target (``zoo.time_to_target``), one round each.

The figure ``zoo bench compare`` gates is ``samples_per_sec``: the samples trained until the target per second
of training. The default test run (--benchmark-disable) trains only ``SMOKE`` to its target.
"""

from __future__ import annotations

import pytest

from benchmarks.conftest import TIME_TO_TARGET
from zoo import environment
from zoo.time_to_target import measure

SMOKE = ("iris_mlp",)


def test_time_to_target(target_model, benchmark, calibrated):
    if benchmark.disabled and target_model not in SMOKE:
        pytest.skip(f"untimed runs train only {', '.join(SMOKE)} to its target; `tox -e bench` times every entry")
    try:
        if benchmark.disabled:
            result = measure(target_model)
        else:
            result = calibrated(measure, args=(target_model,), rounds=1, iterations=1)
    except ValueError as exc:  # no quality target
        pytest.skip(str(exc))
    benchmark.extra_info.update(result, versions=environment.versions())
    TIME_TO_TARGET.append(result)
    assert result["total_steps"] > 0 and result["interval_steps"] > 0
    assert not result["reached"] or (0 < result["steps"] <= result["total_steps"] and result["samples_per_sec"] > 0)
