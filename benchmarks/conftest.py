"""The benchmark suite's parametrization (from the registry) and its closing table.

Every registered entry, a third-party plugin's included, is benchmarked with no edits here.
"""

from __future__ import annotations

import os

import pytest

from zoo import bench, calibration
from zoo.table import format_table

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
RESULTS: list[dict] = []
TIME_TO_TARGET: list[dict] = []  # zoo.time_to_target.measure records, from test_time_to_target
STARTUP: list[dict] = []  # {"command", "seconds"}: the quick commands' start-up, from test_startup
SCALING: list[dict] = []  # data-parallel scaling records (zoo.distributed.scaling), from test_scaling
PEERS: list[dict] = []  # zoo against plain PyTorch and plain Keras scripts (benchmarks.peers.compare), from test_peers


def pytest_addoption(parser):
    group = parser.getgroup("zoo", "zoo benchmarks")
    group.addoption("--zoo-models", default="*", help="fnmatch pattern of the entries to benchmark (default: all)")
    group.addoption("--zoo-devices", default="cpu,gpu", help="devices to benchmark (default: cpu,gpu)")
    group.addoption("--zoo-seconds", type=float, default=2.0, help="timed seconds per case (default: 2)")
    group.addoption("--zoo-backend", default="auto", choices=("auto", "tensorflow", "jax", "torch"),
                    help="backend of zoo's side in the plain-script comparison (default: auto, zoo run's default)")
    group.addoption("--zoo-precision", default="float32",
                    help="what the throughput suite's training cases compute in, comma-separated: float32, "
                         "mixed_bfloat16 (default: float32); each is its own case, so one run ranks them")


def _models(config) -> list[str]:
    import zoo

    return zoo.list_models(config.getoption("--zoo-models"))


def pytest_generate_tests(metafunc):
    devices = metafunc.config.getoption("--zoo-devices").split(",")
    if "case" in metafunc.fixturenames:
        precisions = metafunc.config.getoption("--zoo-precision").split(",")
        metafunc.parametrize("case", bench.cases(_models(metafunc.config), devices, precisions=precisions),
                             ids=lambda c: c.id)
    if "target_model" in metafunc.fixturenames:
        metafunc.parametrize("target_model", _models(metafunc.config))
    if "overhead_case" in metafunc.fixturenames:
        found = [bench.Case(m, "train", d) for m in _models(metafunc.config) for d in devices]
        metafunc.parametrize("overhead_case", found, ids=lambda c: f"{c.model}-{c.device}")


@pytest.fixture(scope="session")
def matmul_peak():
    """The device's measured matmul peak, once per device per session (None where there is no such device)."""
    peaks: dict[str, float | None] = {}

    def peak(kind: str) -> float | None:
        if kind not in peaks:
            try:
                peaks[kind] = bench.matmul_peak_gflops(kind)
            except bench.Skip:
                peaks[kind] = None
        return peaks[kind]

    return peak


@pytest.fixture
def calibrated(benchmark):
    """``benchmark.pedantic`` with the calibration (``zoo.calibration``) timed just before and just after the
    case's rounds. When the test is done, its extra_info also gets ``calibration`` (both readings) and
    ``relative`` (its rates per calibration GFLOP/s), which ``zoo bench compare`` gates on. Untimed runs
    (--benchmark-disable) skip the calibration."""
    readings: list[float] = []

    def pedantic(*args, **kwargs):
        if not benchmark.disabled:
            readings.append(calibration.measure_gflops())
        try:
            return benchmark.pedantic(*args, **kwargs)
        finally:
            if not benchmark.disabled:
                readings.append(calibration.measure_gflops())

    yield pedantic
    if len(readings) == 2:
        reading = calibration.Calibration(*readings)
        benchmark.extra_info.update(calibration=reading.record(),
                                    relative=calibration.relative(benchmark.extra_info, reading))


def pytest_terminal_summary(terminalreporter):
    if STARTUP:
        terminalreporter.section("zoo start-up (median of 7 new processes)")
        for row in STARTUP:
            terminalreporter.write_line(f"{row['command']}: {row['seconds']:.2f} s")
    if SCALING:
        from zoo.distributed import scaling

        terminalreporter.section("zoo data-parallel scaling (training samples/s, steady state; 1 replica vs N)")
        terminalreporter.write_line(scaling.table(SCALING))
        for note in scaling.notes(SCALING):
            terminalreporter.write_line(note)
    if TIME_TO_TARGET:
        terminalreporter.section("zoo time to target (training seconds and steps to each entry's quality target)")
        terminalreporter.write_line(format_table(
            ["model", "device", "target", "reached", "seconds", "steps", "epochs", "samples/s to target"],
            [[r["model"], r["device"], f"{r['metric']} {r['target']:g}", "yes" if r["reached"] else
              f"no (best {r['best']:.4g})", *((f"{r['seconds']:.1f}", f"{r['steps']:,}", f"{r['epochs']:.2f}",
                                                f"{r['samples_per_sec']:,.0f}") if r["reached"] else ("—",) * 4)]
             for r in TIME_TO_TARGET]))
    if PEERS:
        from zoo import peer_table

        terminalreporter.section("zoo against plain scripts (training samples/s, steady state; peak resident memory)")
        terminalreporter.write_line(format_table(*peer_table.summary(PEERS)))
    if not RESULTS:
        return
    headers, rows = bench.summary(RESULTS)
    terminalreporter.section("zoo throughput (samples/s; ratios are per entry)")
    terminalreporter.write_line(format_table(headers, rows))
    peaks = sorted({(r["device"], r["matmul_peak_gflops"]) for r in RESULTS if r.get("matmul_peak_gflops")})
    for device, peak in peaks:
        terminalreporter.write_line(f"{device} dense float32 matmul peak measured in this run: {peak:,.1f} GFLOP/s")
