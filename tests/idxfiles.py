"""Small IDX files written by the tests, so the real parser reads real files without the full datasets."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

CODES = {np.dtype("uint8"): 0x08, np.dtype("int8"): 0x09, np.dtype(">i2"): 0x0B, np.dtype(">i4"): 0x0C,
         np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}
STANDARD = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
            "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


def idx_bytes(array: np.ndarray) -> bytes:
    """The IDX encoding of ``array`` (big-endian, as the format wants)."""
    dtype = array.dtype.newbyteorder(">") if array.dtype.itemsize > 1 else array.dtype
    header = struct.pack(">BBBB", 0, 0, CODES[dtype], array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=dtype).tobytes()


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> Path:
    """Write ``array`` as an IDX file, gzipped unless ``compress`` is False."""
    data = idx_bytes(array)
    path.write_bytes(gzip.compress(data) if compress else data)
    return path


def learnable_images(n: int, seed: int, n_classes: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """28x28 uint8 images whose class is a bright 5x5 block at a class-specific place, over dim noise."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % n_classes
    rng.shuffle(labels)
    images = rng.integers(0, 40, size=(n, 28, 28), dtype=np.uint8)
    for i, label in enumerate(labels):
        row, col = 3 + (label // 5) * 12, 1 + (label % 5) * 5
        images[i, row:row + 5, col:col + 5] = 255
    return images, labels.astype(np.uint8)


def write_mnist_folder(folder: Path, n_train: int = 300, n_test: int = 100) -> Path:
    """A folder of the four standard files holding learnable synthetic digits."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n, seed in (("train", n_train, 1), ("test", n_test, 2)):
        images, labels = learnable_images(n, seed)
        write_idx(folder / STANDARD[split][0], images)
        write_idx(folder / STANDARD[split][1], labels)
    return folder
