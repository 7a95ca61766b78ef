"""Data-parallel scaling (issue 11): an entry's steady-state training samples/s on 1 replica and on N, and the
scaling efficiency, through zoo's data-parallel fit path (``zoo.distributed.scaling``).

N is every GPU where the Keras backend sees at least two; otherwise the CPU split into 2 logical devices,
recorded as device ``cpu-logical``: those share the same cores, so there the efficiency measures the cost of
data parallelism, not a speedup. Each side trains in a fresh process (devices are fixed per process).
Untimed (``--benchmark-disable``, the default test run) each side trains one round of a few steps, the two
sides at once, as a smoke test; timed, one side after the other, each for ``--zoo-seconds`` of steady state.
"""

from __future__ import annotations

import pytest

from benchmarks.conftest import SCALING
from zoo import bench, environment
from zoo.distributed import scaling

# The entries measured when --zoo-models is left at its default: the smallest, an MLP, a CNN.
MODELS = ("iris_mlp", "mnist_mlp", "mnist_cnn")
SMOKE_MODELS = ("iris_mlp",)  # untimed: one entry exercises the whole path; each side costs a process start (~10 s)
SMOKE_STEPS = bench.WARM_STEPS + 2


def _disabled(config) -> bool:
    return config.getoption("benchmark_disable") and not config.getoption("benchmark_enable")


def pytest_generate_tests(metafunc):
    if "scaling_model" not in metafunc.fixturenames:
        return
    import zoo

    pattern = metafunc.config.getoption("--zoo-models")
    if pattern == "*":  # the suite's default: every entry; scaling takes its own few
        known = set(zoo.list_models())
        models = [m for m in (SMOKE_MODELS if _disabled(metafunc.config) else MODELS) if m in known]
    else:
        models = zoo.list_models(pattern)
    metafunc.parametrize("scaling_model", models)


@pytest.fixture(scope="session")
def scaling_target(request) -> tuple[str, int]:
    """(device, N): every GPU where there are at least two, else 2 logical CPU devices."""
    backend = environment.backend()
    if backend not in scaling.ENGINE_BACKENDS:
        pytest.skip(scaling.NO_ENGINE.format(backend=backend))
    from zoo.devices import gpu_names

    try:
        return scaling.choose_target(len(gpu_names()), request.config.getoption("--zoo-devices").split(","))
    except scaling.ScalingError as reason:
        pytest.skip(str(reason))


def test_scaling(scaling_model, scaling_target, benchmark, request):
    device, replicas = scaling_target
    if benchmark.disabled:
        kwargs = {"steps": SMOKE_STEPS, "seconds": 0.0, "min_rounds": 1, "concurrent": True}
    else:
        kwargs = {"seconds": request.config.getoption("--zoo-seconds")}
    # pytest-benchmark times the whole comparison (both processes); the figures go into extra_info.
    result = benchmark.pedantic(scaling.compare, args=(scaling_model, replicas, device), kwargs=kwargs,
                                rounds=1, iterations=1)
    benchmark.extra_info.update(result, versions=environment.versions())
    SCALING.append(result)
    assert result["samples_per_sec_1"] > 0 and result["samples_per_sec_n"] > 0, result
    assert (result["replicas"], result["device"], result["backend"]) == (replicas, device, environment.backend())
    # What each engine reports (MirroredStrategy.num_replicas_in_sync, the DataParallel mesh's devices), and
    # where the trained model's weights actually live: one copy per replica.
    assert (result["replicas_in_sync_1"], result["replicas_in_sync_n"]) == (1, replicas), result
    assert (result["weight_copies_1"], result["weight_copies_n"]) == (1, replicas), result
    assert len(result["local_devices_n"]) == replicas, result
    # The same global batch on both sides, split across the replicas.
    assert result["per_replica_batch_1"] == result["global_batch"] == result["per_replica_batch"] * replicas, result
    assert result["efficiency"] == pytest.approx(result["samples_per_sec_n"] / (replicas * result["samples_per_sec_1"]))
