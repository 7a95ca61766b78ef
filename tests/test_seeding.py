"""zoo.seeding.set_seed: Keras' set_random_seed, without importing TensorFlow under another backend."""

import importlib.util
import os
import subprocess
import sys
import textwrap

import pytest

import zoo.lazy_tensorflow
from zoo.seeding import set_seed

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="the jax Keras backend is not installed")
needs_tensorflow = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None,
                                      reason="TensorFlow is not installed")

# Seeds, builds and fits a tiny model twice, saves it, and reports what it saw.
UNDER_JAX = textwrap.dedent("""
    import sys, tempfile
    import keras, numpy as np
    from keras.src.utils import module_utils
    from zoo.lazy_tensorflow import tensorflow_unimported
    from zoo.run import save_model
    from zoo.seeding import set_seed

    assert keras.backend.backend() == "jax", keras.backend.backend()

    def trained(seed):
        set_seed(seed)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dropout(0.5), keras.layers.Dense(3, activation="softmax")])
        model.compile("adam", "sparse_categorical_crossentropy")
        x = np.random.rand(64, 4).astype("float32")
        y = np.random.randint(0, 3, 64)
        model.fit(x, y, batch_size=8, epochs=2, shuffle=True, verbose=0)
        return model, [w.copy() for w in model.get_weights()]

    model, first = trained(7)
    _, again = trained(7)
    _, other = trained(8)
    save_model(model, __import__("pathlib").Path(tempfile.mkdtemp()) / "model.keras")
    print("same=", all(np.array_equal(a, b) for a, b in zip(first, again)), sep="")
    print("other=", any(not np.array_equal(a, b) for a, b in zip(first, other)), sep="")
    print("restored=", module_utils.tensorflow._available, sep="")
    try:
        with tensorflow_unimported():
            raise RuntimeError
    except RuntimeError:
        pass
    print("restored after an error=", module_utils.tensorflow._available, sep="")
    print("tensorflow=", "tensorflow" in sys.modules, sep="")
""")

UNDER_TENSORFLOW = textwrap.dedent("""
    import keras, tensorflow as tf
    from zoo.seeding import set_seed

    assert keras.backend.backend() == "tensorflow"
    set_seed(3)
    first = tf.random.uniform([5]).numpy()
    set_seed(3)
    again = tf.random.uniform([5]).numpy()
    set_seed(4)
    other = tf.random.uniform([5]).numpy()
    print("same", (first == again).all(), "other", (first != other).any())
""")


def _run_under(backend: str, script: str) -> dict[str, str]:
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line) | {"raw": done.stdout}


@needs_jax
def test_under_jax_seeding_training_and_saving_leave_tensorflow_unimported_and_runs_repeat():
    seen = _run_under("jax", UNDER_JAX)
    assert seen["tensorflow"] == "False", seen["raw"]
    assert seen["same"] == "True" and seen["other"] == "True", seen["raw"]
    # Keras' lazy module is as it was (never asked): nothing of zoo's shows through afterwards.
    assert seen["restored"] == seen["restored after an error"] == "None", seen["raw"]


@needs_tensorflow
def test_under_tensorflow_it_still_seeds_tensorflow():
    done = subprocess.run([sys.executable, "-c", UNDER_TENSORFLOW], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["same", "True", "other", "True"], done.stdout


def test_where_keras_internals_changed_it_calls_keras_own_function(monkeypatch):
    import keras
    from keras.src.utils import module_utils

    calls = []
    monkeypatch.setattr(keras.utils, "set_random_seed", calls.append)
    monkeypatch.setattr(module_utils, "tensorflow", object())  # no lazy module with _available any more
    assert zoo.lazy_tensorflow._keras_lazy_tensorflow() is None
    set_seed(11)
    assert calls == [11]
    monkeypatch.delattr(module_utils, "tensorflow")
    assert zoo.lazy_tensorflow._keras_lazy_tensorflow() is None
    set_seed(12)
    assert calls == [11, 12]


def test_it_finds_the_lazy_module_keras_consults():
    from keras.src.utils import module_utils, rng_utils

    # The object set_random_seed asks (rng_utils.tf) is the one zoo marks unavailable.
    assert zoo.lazy_tensorflow._keras_lazy_tensorflow() is module_utils.tensorflow is rng_utils.tf
