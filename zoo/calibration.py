"""A calibration timed beside each benchmark case, so two runs on a shared machine can be compared.

Absolute rates on the shared VMs swing threefold from day to day (the machine's matmul rate measured in
the suite went from 407 to 131 GFLOP/s in three days), so ``zoo bench compare`` gates on figures divided by
a calibration timed in the same run, just before and just after each case's rounds.

The calibration is a small fixed numpy float32 matmul (``SIZE`` × ``SIZE``, the best of ``TRIALS``), not a
pure-Python loop: the models' kernels run on the same cores and the same vector units through a
multi-threaded BLAS-like library (oneDNN, Eigen, XLA), so a lost core, a slower clock or a noisy
neighbour's memory traffic slows both alike, where a Python loop sees only one core's interpreter speed.
It depends on numpy alone, not on the Keras backend under test, so a slower TensorFlow or Keras shows up
as a regression instead of being divided away. Imports numpy only when measuring.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

SIZE = 384  # 113 MFLOP a matmul: about a millisecond on one core of a 2-core VM, so the whole reading stays short
REPEATS = 3  # matmuls per trial
TRIALS = 7  # trials per reading; the best counts (a shared machine only ever slows a trial down)
KIND = f"numpy float32 matmul {SIZE}x{SIZE}"

# The rates recorded relative to the calibration (extra_info keys): each is divided by the calibration's
# GFLOP/s, so it stays put when the whole machine runs uniformly faster or slower.
CALIBRATED = ("samples_per_sec", "zoo_steady_samples_per_sec")


@dataclass(frozen=True)
class Calibration:
    """The calibration's rate (GFLOP/s) just before and just after one case's rounds."""

    before_gflops: float
    after_gflops: float
    kind: str = KIND

    @property
    def gflops(self) -> float:
        """The rate the case's figures are divided by: the faster reading. Other work only ever slows a
        reading down, and a case can leave threads spinning behind it (onnxruntime's pool spins after a run:
        a reading right after an int8 case once came out 30x slow), so the slower reading is the suspect one."""
        return max(self.before_gflops, self.after_gflops)

    @property
    def drift(self) -> float:
        """How far the two readings differ: |after - before| / the faster."""
        return abs(self.after_gflops - self.before_gflops) / self.gflops

    def record(self) -> dict:
        """The ``calibration`` entry of a benchmark's extra_info."""
        return {**asdict(self), "gflops": self.gflops, "drift": self.drift}


def measure_gflops(size: int = SIZE, repeats: int = REPEATS, trials: int = TRIALS) -> float:
    """The calibration's rate now: GFLOP/s of the best of ``trials`` timings of ``repeats`` matmuls."""
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(trials):
        start = time.perf_counter()
        for _ in range(repeats):
            a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 * repeats / max(best, 1e-9) / 1e9


def relative(figures: dict, calibration: Calibration) -> dict[str, float]:
    """The ``CALIBRATED`` rates found in ``figures`` (numbers only; others are left out), per calibration GFLOP/s."""
    return {key: value / calibration.gflops for key in CALIBRATED
            if isinstance(value := figures.get(key), (int, float)) and not isinstance(value, bool)}
