"""Which device trains: the CPU or a GPU, under whichever Keras backend is in use.

Finding GPUs is the one place that must ask the backend's own library; everything
else places work through ``keras.device``, which every backend implements.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from zoo.environment import backend, cpu_name
from zoo.errors import ZooError

CHOICES = ("auto", "cpu", "gpu")


@dataclass(frozen=True)
class Device:
    """A device to place work on: its kind, its Keras name and its human name."""

    kind: str  # "cpu" or "gpu"
    keras_name: str  # for keras.device(), e.g. "gpu:0"
    name: str  # e.g. "NVIDIA H100 80GB HBM3"


@functools.cache
def gpu_names() -> tuple[str, ...]:
    """The GPUs the current Keras backend can use, by name (empty when there are none)."""
    name = backend()
    if name == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        return tuple(tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus)
    if name == "jax":
        import jax

        return tuple(d.device_kind for d in jax.devices() if d.platform in ("gpu", "cuda", "rocm"))
    if name == "torch":
        import torch

        return tuple(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
    return ()


def resolve_device(choice: str = "auto") -> Device:
    """The device for ``choice``: ``auto`` takes the first GPU if there is one, else the CPU."""
    if choice not in CHOICES:
        raise ZooError(f"unknown device {choice!r}; use one of {', '.join(CHOICES)}")
    gpus = gpu_names() if choice != "cpu" else ()
    if choice == "gpu" and not gpus:
        raise ZooError(f"--device gpu: no GPU visible to the {backend()} backend; use --device cpu or auto")
    if gpus:
        return Device("gpu", "gpu:0", gpus[0])
    # Under torch, Keras moves each new variable to the scope's device with .to(); "cpu:0" makes a copy that is
    # no longer a Parameter (integer ones then fail to build, float ones get no gradients), "cpu" keeps it.
    return Device("cpu", "cpu" if backend() == "torch" else "cpu:0", cpu_name())
