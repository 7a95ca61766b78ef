"""zoo's training against the same network in a plain PyTorch script and a plain Keras script (issue 21).

Each entry trains in three processes, rounds alternating (``benchmarks.peers.compare``): zoo's path under the
backend ``zoo run`` picks by default, the plain Keras script under that backend, and the hand-written
PyTorch script (``benchmarks.peers.plain_torch``). Recorded: each side's training samples/s and peak
memory, zoo/plain-PyTorch and zoo/plain-Keras. Asserted when the suite is timed, on the CPU: zoo at least
1.0× plain PyTorch on every entry and 1.5× on the dense ones, and zoo's training process within 1.25×
of the plain Keras script's peak resident memory. The untimed test run trains ``SMOKE`` for one round.
"""

from __future__ import annotations

import fnmatch
import importlib.util

import pytest

from benchmarks.conftest import PEERS
from zoo import api, bench, environment

SMOKE = ("iris_mlp",)  # the CNN peer network is checked by tests/test_peers.py; a CNN round costs 20 s
SMOKE_STEPS = bench.WARM_STEPS + 2
# The dense entries (every layer Dense), where zoo's chosen backend must beat the plain PyTorch script by half.
DENSE = ("iris_mlp", "mnist_mlp*", "fashion_linear", "fn_*")
DENSE_GOAL, GOAL = 1.5, 1.0
MEMORY_GOAL = 1.25  # zoo's training process's peak RSS over the plain Keras script's, same entry and backend


def speed_goal(model: str) -> float:
    """The zoo/plain-PyTorch training speed ``model`` must reach on the CPU."""
    return DENSE_GOAL if any(fnmatch.fnmatchcase(model, p) for p in DENSE) else GOAL


def test_plain_peers(target_model, benchmark, calibrated, request):
    from benchmarks.peers.compare import compare

    if importlib.util.find_spec("torch") is None:
        pytest.skip("the plain PyTorch peer needs torch (pip install torch==2.13.0, the CPU build tox -e bench-torch pins)")
    from benchmarks.peers.plain_torch import PEERS as NETWORKS

    if target_model not in NETWORKS:
        pytest.skip(f"{target_model} has no plain PyTorch script (benchmarks/peers/plain_torch.py has the built-in "
                    "entries')")
    if benchmark.disabled and target_model not in SMOKE:
        pytest.skip(f"untimed runs compare only {', '.join(SMOKE)}; `tox -e bench` times every entry")
    steps = SMOKE_STEPS if benchmark.disabled else bench.round_steps(api.create_model(target_model),
                                                                       api.get_spec(target_model).fit.batch_size)
    options = {"steps": steps, "seconds": request.config.getoption("--zoo-seconds"),
               "backend": request.config.getoption("--zoo-backend"), "data_dir": None}
    if benchmark.disabled:
        result = compare(target_model, rounds=1, **options)
    else:
        result = calibrated(compare, args=(target_model,), kwargs=options, rounds=1, iterations=1)
    benchmark.extra_info.update(result, versions=environment.versions())
    PEERS.append(result)
    assert result["param_count"] > 0 and result["rounds"] >= 1
    for side in ("zoo", "torch", "keras"):
        assert result[f"{side}_train_samples_per_sec"] > 0
        assert result[f"{side}_peak_rss_bytes"] > result[f"{side}_baseline_rss_bytes"] > 0
    if benchmark.disabled or result["device"] != "cpu":
        return
    rates = (f"zoo ({result['backend']}) trains {target_model} at {result['zoo_train_samples_per_sec']:,.0f} samples/s, "
             f"plain PyTorch at {result['torch_train_samples_per_sec']:,.0f}, plain Keras at "
             f"{result['keras_train_samples_per_sec']:,.0f}")
    goal = speed_goal(target_model)
    assert result["zoo_over_torch"] >= goal, f"{rates}: {result['zoo_over_torch']:.2f}× plain PyTorch (goal ≥ {goal}×)"
    mib = {side: result[f"{side}_peak_rss_bytes"] / 2**20 for side in ("zoo", "keras")}
    assert result["memory_over_keras"] <= MEMORY_GOAL, (
        f"zoo's training of {target_model} peaked at {mib['zoo']:,.0f} MiB resident, the plain Keras script at "
        f"{mib['keras']:,.0f} MiB: {result['memory_over_keras']:.2f}× (goal ≤ {MEMORY_GOAL}×)")
