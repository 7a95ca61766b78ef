"""Training precision: ``float32``, or Keras' ``mixed_bfloat16`` where the hardware computes bfloat16 natively.

Under ``mixed_bfloat16`` (Keras' mixed-precision policy) each layer keeps its weights in float32 and
computes in bfloat16; the loss, the optimizer and its updates stay float32. On a CPU with AMX-BF16
(Intel Sapphire Rapids and later) oneDNN then runs the convolutions and matrix products on the AMX
tiles: mnist_cnn trained 1.7-1.9x faster under TensorFlow on a 2-core Xeon (zoo/backend_table.json),
with every seed's accuracy inside float32's seed spread (reference/mnist_cnn). Without AMX, bfloat16
has to be emulated and is slower than float32, so a bfloat16 variant is used only where the CPU has it.

The precision only changes how training computes: once trained, the model is switched back to
float32 (``to_float32``: the same weights, float32 computation), so its evaluation, ``model.keras``
and the ONNX export are those of a float32 model, the same whatever precision trained it.

The choice itself (``--precision auto``) is part of the backend choice (``zoo.backend_choice``): the
table ranks variants such as ``tensorflow+mixed_bfloat16`` beside the plain backends. This module
reads ``/proc/cpuinfo`` and imports Keras only in the functions that change a model.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras

FLOAT32 = "float32"
MIXED_BFLOAT16 = "mixed_bfloat16"
POLICIES = (FLOAT32, MIXED_BFLOAT16)
REQUESTS = ("auto", *POLICIES)
LABELS = {FLOAT32: "float32", MIXED_BFLOAT16: "bf16"}
BACKEND_LABELS = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}
# The CPU feature a bfloat16 variant needs: the one the table's bfloat16 rows were measured with.
CPU_FEATURE = "amx_bf16"


@cache
def cpu_flags(path: str = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (empty where there is no /proc/cpuinfo)."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    line = next((ln for ln in text.splitlines() if ln.startswith(("flags", "Features"))), "")
    return frozenset(line.partition(":")[2].split())


def unusable(policy: str, device: str, flags: frozenset[str] | None = None) -> str | None:
    """Why ``policy`` cannot train fast on ``device`` here, or None when it can (float32 always can).

    A GPU's bfloat16 variant is trusted as measured (the table's GPU row comes from a GPU run)."""
    if policy == FLOAT32 or device != "cpu":
        return None
    flags = cpu_flags() if flags is None else flags
    return None if CPU_FEATURE in flags else f"this CPU has no {CPU_FEATURE.upper().replace('_', '-')}"


def variant(backend: str, policy: str) -> str:
    """The name the backend table gives a backend under a precision: ``tensorflow``, ``tensorflow+mixed_bfloat16``."""
    return backend if policy == FLOAT32 else f"{backend}+{policy}"


def split(name: str) -> tuple[str, str]:
    """``variant``'s inverse: ``tensorflow+mixed_bfloat16`` -> (tensorflow, mixed_bfloat16)."""
    backend, _, policy = name.partition("+")
    return backend, policy or FLOAT32


def label(name: str) -> str:
    """A backend or variant as a user names it: ``TensorFlow``, ``TensorFlow bf16``."""
    backend, policy = split(name)
    return BACKEND_LABELS.get(backend, backend) + ("" if policy == FLOAT32 else f" {LABELS.get(policy, policy)}")


def check(policy: str) -> str:
    """``policy`` if zoo trains under it, else ValueError naming the choices."""
    if policy not in POLICIES:
        raise ValueError(f"precision {policy!r}: choose one of {', '.join(POLICIES)}")
    return policy


@contextlib.contextmanager
def building_under(policy: str) -> Iterator[None]:
    """Layers created inside take ``policy`` (Keras' global dtype policy, restored on the way out, so only the
    model built here trains in it)."""
    import keras

    if policy == FLOAT32:
        yield
        return
    before = keras.config.dtype_policy()
    keras.config.set_dtype_policy(check(policy))
    try:
        yield
    finally:
        keras.config.set_dtype_policy(before)


def compute_dtype(model: keras.Model) -> str:
    """The precision ``model``'s layers compute in: float32, or the mixed policy any of them has."""
    policies = {layer.dtype_policy.name for layer in model._flatten_layers(include_self=True)}
    return next((p for p in POLICIES if p != FLOAT32 and p in policies), FLOAT32)


def to_float32(model: keras.Model) -> keras.Model:
    """``model`` switched, in place, to float32 computation: its weights were float32 all along, so it is then
    the float32 model those weights make (what is evaluated, saved and exported)."""
    if compute_dtype(model) == FLOAT32:
        return model
    for layer in model._flatten_layers(include_self=True):
        layer.dtype_policy = FLOAT32
    # The traced train/test/predict functions computed in the old precision.
    model.train_function = model.test_function = model.predict_function = None
    return model
