"""The IDX file format of MNIST and Fashion-MNIST, read strictly.

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the data. Files may be
gzip-compressed. Every way a file can be wrong raises ``IdxError`` naming the
file and what is wrong with it, never a bare numpy or gzip exception.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from zoo.errors import DataError
from zoo.files import sha256_file
from zoo.specs import Splits

# The type codes of the format, as big-endian numpy dtypes.
DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
# A header can claim absurd sizes; refuse before allocating.
MAX_ELEMENTS = 1 << 31


class IdxError(DataError):
    """An IDX file is corrupt or does not fit its dataset."""


def read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with the gzip magic number."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise IdxError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    if raw[:2] != b"\x1f\x8b":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise IdxError(f"{path}: corrupt or truncated gzip data ({exc}); download the file again") from exc


def parse_idx(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Parse IDX bytes into an array of native byte order; ``name`` is used in errors."""
    if len(data) < 4:
        raise IdxError(f"{name}: {len(data)} bytes is too short for an IDX header")
    zero, code, ndim = data[:2], data[2], data[3]
    if zero != b"\x00\x00" or code not in DTYPES:
        raise IdxError(f"{name}: bad magic number 0x{data[:4].hex()} (expected 0x0000 then a type code "
                       f"{', '.join(f'0x{c:02x}' for c in DTYPES)} and a dimension count); not an IDX file")
    if ndim == 0:
        raise IdxError(f"{name}: header declares 0 dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise IdxError(f"{name}: truncated header ({len(data)} bytes, {ndim} dimensions need {header})")
    dims = tuple(int(d) for d in np.frombuffer(data, ">u4", count=ndim, offset=4))
    dtype = np.dtype(DTYPES[code])
    count = math.prod(dims)
    if count >= MAX_ELEMENTS:
        raise IdxError(f"{name}: header declares dimensions {dims}, too large to be real")
    expected = header + count * dtype.itemsize
    if len(data) != expected:
        raise IdxError(f"{name}: file length {len(data)} bytes does not match its header: dimensions "
                       f"{dims} of {dtype.itemsize}-byte values need {expected} bytes")
    return np.frombuffer(data, dtype, count=count, offset=header).reshape(dims).astype(dtype.newbyteorder("="))


def load_idx(path: str | Path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into a numpy array."""
    path = Path(path)
    return parse_idx(read_bytes(path), str(path))


def load_idx_pair(images: Path, labels: Path, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Read matching image and label files, checking their shapes, counts and label range."""
    x, y = load_idx(images), load_idx(labels)
    if x.ndim != 3:
        raise IdxError(f"{images}: expected images of shape (N, rows, cols), got {x.shape}")
    if y.ndim != 1:
        raise IdxError(f"{labels}: expected labels of shape (N,), got {y.shape}")
    if len(x) != len(y):
        raise IdxError(f"{images} holds {len(x)} images but {labels} holds {len(y)} labels; "
                       "the two files must come from the same release")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= n_classes):
        raise IdxError(f"{labels}: labels range {int(y.min())}..{int(y.max())}, expected 0..{n_classes - 1}")
    return x, y


# The standard file names, as published.
STANDARD_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                  "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def read_idx_folder(folder: Path, n_classes: int = 10) -> Splits:
    """Read the four standard IDX files of an MNIST-style folder."""
    paths = [folder / name for name in STANDARD_FILES]
    x_train, y_train = load_idx_pair(paths[0], paths[1], n_classes)
    x_test, y_test = load_idx_pair(paths[2], paths[3], n_classes)
    if x_train.shape[1:] != x_test.shape[1:]:
        raise IdxError(f"{folder}: train images are {x_train.shape[1:]} but test images are {x_test.shape[1:]}")
    return Splits(x_train, y_train, x_test, y_test, files={p.name: sha256_file(p) for p in paths})

