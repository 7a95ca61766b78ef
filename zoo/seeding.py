"""Seeding a run's randomness without starting TensorFlow under another Keras backend."""

from __future__ import annotations

from zoo.lazy_tensorflow import tensorflow_unimported


def set_seed(seed: int) -> None:
    """Seed everything ``keras.utils.set_random_seed(seed)`` seeds, without importing TensorFlow needlessly.

    Keras' function seeds TensorFlow whenever TensorFlow is *installed*, importing it under JAX or PyTorch too:
    2-3 s of a ``zoo run`` that never uses it. Under the TensorFlow backend, or once TensorFlow is imported anyway,
    this is exactly Keras' function. Under another backend with TensorFlow not imported, TensorFlow's seed is left
    alone (``zoo.lazy_tensorflow.tensorflow_unimported``): nothing of zoo's training under JAX or PyTorch draws from
    it (``fit`` reads NumPy arrays or a ``keras.utils.PyDataset`` through Keras' NumPy iterators; no ``tf.data``
    pipeline shuffles anything), so the run is as reproducible. Everything else (Python's ``random``, NumPy, Keras'
    seed generator, PyTorch under its backend) is seeded by Keras' own function, so zoo keeps no copy of Keras'
    global state.
    """
    import keras

    with tensorflow_unimported():
        keras.utils.set_random_seed(seed)
