"""What a result was measured with: Keras backend, library versions, zoo's git commit, the machine."""

from __future__ import annotations

import datetime
import functools
import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

import zoo.version

# Libraries whose versions go into every report and benchmark.
LIBRARIES = ("keras", "tensorflow", "tensorflow-cpu", "jax", "jaxlib", "torch", "numpy", "scikit-learn",
             "pluggy", "onnx", "onnxruntime", "tf2onnx")


def now() -> str:
    """The current time in UTC, ISO 8601 to the second: every timestamp zoo writes comes from here."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def backend() -> str:
    """The Keras backend in use: ``tensorflow``, ``jax`` or ``torch``."""
    import keras

    return keras.backend.backend()


def versions() -> dict[str, str]:
    """Python, zoo and the installed versions of the libraries that matter to a result."""
    found = {"python": platform.python_version(), "zoo": zoo.version.__version__}
    for name in LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            pass
    return found


@functools.cache
def git_commit() -> str | None:
    """The commit zoo's source is checked out at (``+dirty`` if modified), or None if not a checkout."""
    source = Path(zoo.version.__file__).resolve().parent.parent
    try:
        commit = subprocess.run(["git", "-C", str(source), "rev-parse", "HEAD"], capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(source), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("+dirty" if dirty else "") if commit else None


@functools.cache
def cpu_name() -> str:
    """The processor's model name and how many cores this process may use."""
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{model} ({cores} cores)"
