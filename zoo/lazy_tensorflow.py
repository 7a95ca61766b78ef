"""Keras calls that import TensorFlow under any backend, made without importing it where it is not in use.

Keras asks its lazy ``tensorflow`` module (``keras.src.utils.module_utils.tensorflow``) whether TensorFlow is
*installed*, importing it to find out, in code that runs under every backend: ``keras.utils.set_random_seed``
seeds TensorFlow too, and saving a model checks whether each object is a ``tf.TensorShape``, ``tf.DType`` or
``tf.TypeSpec``. Under JAX or PyTorch that import is 2-3 s of a ``zoo run`` that never uses TensorFlow (its ONNX
conversion imports TensorFlow in a child process of its own).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator
from typing import Any

_lock = threading.RLock()  # reentrant: a wrapped call may reach another


@contextlib.contextmanager
def tensorflow_unimported() -> Iterator[None]:
    """Within this block Keras takes TensorFlow for not installed, unless this process runs Keras' TensorFlow backend
    or has imported TensorFlow already; Keras' own setting is restored after it.

    Safe for what it wraps: with TensorFlow not imported, no object can be a TensorFlow one, and no ``tf.data``
    pipeline exists to be seeded. Process-wide while it lasts: wrap only short calls made on zoo's own thread. Where
    Keras' internals have changed (the lazy module or its ``_available`` gone), the block runs with Keras as it is:
    slower under JAX, never wrong.
    """
    lazy = _keras_lazy_tensorflow()
    if lazy is None or "tensorflow" in sys.modules or _backend() == "tensorflow":
        yield
        return
    with _lock:
        saved = lazy._available
        lazy._available = False
        try:
            yield
        finally:
            lazy._available = saved


def _backend() -> str:
    import keras

    return keras.backend.backend()


def _keras_lazy_tensorflow() -> Any | None:
    """Keras' lazy ``tensorflow`` module, or None where Keras' internals are not what this module expects."""
    try:
        from keras.src.utils import module_utils
    except ImportError:
        return None
    lazy = getattr(module_utils, "tensorflow", None)
    # Its own _available, which the ``available`` property reads (getattr would import TensorFlow to find others).
    has_flag = "_available" in getattr(lazy, "__dict__", {})
    if not has_flag or not isinstance(getattr(type(lazy), "available", None), property):
        return None
    return lazy
