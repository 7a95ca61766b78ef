"""Peak memory of this process: resident memory (RSS) on the host, allocated memory on a GPU.

The benchmarks record how much memory a case needed, not only how fast it ran. Linux keeps the
process's peak RSS (``VmHWM`` in ``/proc/self/status``) and resets it to the current RSS when ``5``
is written to ``/proc/self/clear_refs``, so a case's own peak can be read even in a process that
ran other cases before it. Where that reset is not possible (another OS, a locked-down /proc),
``PeakWindow`` says so and the peak it reports is the process's peak since it started.

Imports no framework: a GPU's peak is read from the backend already loaded in this process.
"""

from __future__ import annotations

import resource
import sys
from dataclasses import dataclass
from pathlib import Path

STATUS = Path("/proc/self/status")
CLEAR_REFS = Path("/proc/self/clear_refs")


def _status_kib(field: str) -> int | None:
    try:
        for line in STATUS.read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def rss_bytes() -> int | None:
    """This process's resident memory now, in bytes (None where /proc cannot tell)."""
    kib = _status_kib("VmRSS")
    return None if kib is None else kib * 1024


def peak_rss_bytes() -> int:
    """This process's peak resident memory, in bytes: since the last ``reset_peak_rss``, else since it started."""
    kib = _status_kib("VmHWM")
    if kib is not None:
        return kib * 1024
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return maxrss if sys.platform == "darwin" else maxrss * 1024  # macOS counts bytes, Linux KiB


def reset_peak_rss() -> bool:
    """Start a new peak-RSS window (Linux ``clear_refs``); False where the kernel does not allow it."""
    try:
        CLEAR_REFS.write_text("5")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def gpu_peak_bytes(backend: str) -> int | None:
    """Peak bytes the ``backend`` framework allocated on the GPU since its last reset (``reset_gpu_peak``),
    summed over GPUs; None with no GPU or no such counter. Only reads a framework this process already loaded."""
    try:
        if backend == "jax" and "jax" in sys.modules:
            import jax

            stats = [d.memory_stats() or {} for d in jax.devices() if d.platform == "gpu"]
            return sum(s.get("peak_bytes_in_use", 0) for s in stats) if stats else None
        if backend == "torch" and "torch" in sys.modules:
            import torch

            if not torch.cuda.is_available():
                return None
            return sum(torch.cuda.max_memory_allocated(i) for i in range(torch.cuda.device_count()))
        if backend == "tensorflow" and "tensorflow" in sys.modules:
            import tensorflow as tf

            gpus = tf.config.list_logical_devices("GPU")
            return sum(tf.config.experimental.get_memory_info(g.name)["peak"] for g in gpus) if gpus else None
    except (RuntimeError, ValueError, KeyError, AttributeError):
        return None
    return None


def reset_gpu_peak(backend: str) -> None:
    """Restart the GPU peak counters where the framework can (torch, TensorFlow; JAX's peak only grows)."""
    try:
        if backend == "torch" and "torch" in sys.modules:
            import torch

            if torch.cuda.is_available():
                for i in range(torch.cuda.device_count()):
                    torch.cuda.reset_peak_memory_stats(i)
        elif backend == "tensorflow" and "tensorflow" in sys.modules:
            import tensorflow as tf

            for gpu in tf.config.list_logical_devices("GPU"):
                tf.config.experimental.reset_memory_stats(gpu.name)
    except (RuntimeError, ValueError, AttributeError):
        pass


@dataclass
class PeakWindow:
    """The peak memory of one stretch of work in this process: ``start()`` before it, ``record()`` after.

    ``peak_rss_bytes`` is the process's peak RSS in the window (everything the process holds, the
    framework included); ``rss_growth_bytes`` how far it rose above the RSS at the start (what the work
    itself added); ``windowed`` False where the peak could not be reset, so the peak is the process's
    since it started.
    """

    backend: str
    start_rss: int | None = None
    windowed: bool = False

    def start(self) -> PeakWindow:
        """Reset the counters; returns self."""
        self.windowed = reset_peak_rss()
        self.start_rss = rss_bytes()
        reset_gpu_peak(self.backend)
        return self

    def record(self) -> dict:
        """The window's figures, as the benchmark results record them (bytes; None where unknown)."""
        peak = peak_rss_bytes()
        growth = peak - self.start_rss if self.windowed and self.start_rss is not None else None
        return {"peak_rss_bytes": peak, "rss_growth_bytes": growth, "peak_rss_windowed": self.windowed,
                "gpu_peak_bytes": gpu_peak_bytes(self.backend)}
