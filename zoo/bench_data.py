"""The data a benchmark trains and infers on: the entry's own dataset, prepared as ``zoo run`` prepares it.

NumPy only (no Keras): the plain scripts the suite compares zoo with (``benchmarks/peers``) load their data
with these same functions, so each side's process holds the same arrays and their peak memory differs only
by what each training path adds.
"""

from __future__ import annotations

import functools

import numpy as np

from zoo.datasets import load_dataset
from zoo.errors import DataError
from zoo.prepare import Prepared, prepare
from zoo.specs import DatasetSpec, ModelSpec, Splits


def bench_data(spec: ModelSpec, dataset: DatasetSpec, data_dir: str | None) -> Prepared:
    """The entry's prepared data: the real dataset where it can be loaded, else random data of its shape."""
    return prepare(spec, dataset, _splits(dataset, data_dir))


@functools.lru_cache(maxsize=4)
def _splits(dataset: DatasetSpec, data_dir: str | None) -> Splits:
    # Cached by dataset: loading MNIST once serves every case of every MNIST entry.
    try:
        return load_dataset(dataset, data_dir)
    except DataError:
        return _random_like(dataset)


def _random_like(dataset: DatasetSpec) -> Splits:
    # Throughput does not depend on pixel values; MNIST-shaped noise keeps the benchmark runnable offline.
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(2048, 28, 28), dtype=np.uint8)
    y = rng.integers(0, max(len(dataset.class_names), 1), size=2048)
    return Splits(x[:1536], y[:1536], x[1536:], y[1536:], origin="random (dataset not available)")


def first_rows(x: np.ndarray, n: int) -> np.ndarray:
    """The first ``n`` rows of ``x``, repeating it when it is shorter (Iris has 112 training rows)."""
    return np.resize(x, (n, *x.shape[1:])) if len(x) < n else x[:n]
