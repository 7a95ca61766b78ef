"""Raw samples read from files for ``zoo predict``: PNG images, ``.npy`` arrays and CSV rows, checked against what
an export's metadata says the model takes.

Hostile files are the norm here, not the exception: sizes come from each format's header, checked before
anything is decoded, so memory stays bounded by the samples a file really holds; every failure is a
``PredictError`` of one line. Needs numpy and Pillow only.
"""

from __future__ import annotations

import csv
import itertools
import math
import os
from pathlib import Path

import numpy as np

from zoo.errors import ZooError, first_line
from zoo.exports.metadata import OnnxMetadata

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
SUFFIXES = (*IMAGE_SUFFIXES, ".npy", ".csv")


class PredictError(ZooError):
    """An input or export that ``zoo predict`` cannot use."""


class NonFiniteOutputError(PredictError):
    """The model's outputs for a sample are NaN or infinite: its values lie far outside the training data."""

    def __init__(self, index: int, metadata: OnnxMetadata, source: str | None = None):
        self.index, self.metadata = index, metadata
        super().__init__(f"{source or f'sample {index}'}: {metadata.model_name}'s outputs are not finite numbers: "
                         f"its values lie far outside what it was trained on ({metadata.preprocessing})")


def read_samples(path: str | Path, metadata: OnnxMetadata) -> tuple[list[str], np.ndarray]:
    """The raw samples in one file, as a batch of ``metadata.raw_input_shape``, and a label for each.

    Sizes are checked from each format's header before its data is read, so memory stays bounded by the
    samples the file really holds, whatever its header claims.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise PredictError(f"{path}: unsupported file type {suffix or '(none)'!r}; give PNG or JPEG images, "
                           ".npy arrays or .csv rows")
    _check_regular_file(path)
    try:
        if suffix in IMAGE_SUFFIXES:
            return [path.name], read_image(path, metadata)[None]
        if suffix == ".npy":
            batch = read_npy(path, metadata)
            return ([path.name] if len(batch) == 1 else [f"{path.name}[{i}]" for i in range(len(batch))]), batch
        lines, batch = read_csv(path, metadata)
    except MemoryError:
        raise PredictError(f"{path}: too large to read into memory; give fewer samples per file") from None
    except OSError as exc:  # e.g. the file vanished or became unreadable while being read
        raise PredictError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    return [f"{path.name} line {n}" for n in lines], batch


def _check_regular_file(path: Path) -> None:
    """A plain file we may read; a folder, FIFO, device or socket is refused without being opened."""
    import stat

    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise PredictError(f"{path}: no such file") from None
    except OSError as exc:
        raise PredictError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    if stat.S_ISDIR(mode):
        raise PredictError(f"{path}: a folder, not a file; give the files in it, e.g. {path}/*{path.suffix}")
    if not stat.S_ISREG(mode):
        kind = "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else \
            "a socket" if stat.S_ISSOCK(mode) else "not a regular file"
        raise PredictError(f"{path}: {kind}, not a regular file; save the samples to a file and give that")
    if not os.access(path, os.R_OK):
        raise PredictError(f"{path}: cannot read it (permission denied)")


def _expects(metadata: OnnxMetadata) -> str:
    shape = "x".join(map(str, metadata.raw_input_shape))
    raw = "pixels 0-255" if metadata.raw_input_dtype == "uint8" else "values"
    return f"{metadata.model_name} takes {shape} {metadata.raw_input_dtype} {raw}"


PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def png_size(path: Path) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, read without decoding anything."""
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:8] != PNG_SIGNATURE or head[12:16] != b"IHDR":
        raise PredictError(f"{path}: not a readable PNG image (no PNG signature and IHDR header); give a PNG")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


# An image's channels -> the Pillow mode its pixels are read in.
CHANNEL_MODES = {1: "L", 3: "RGB", 4: "RGBA"}


def image_layout(metadata: OnnxMetadata) -> tuple[int, int, int | None] | None:
    """(height, width, channels; None for a 2-D greyscale sample) when the model takes 8-bit images, else None."""
    shape = tuple(metadata.raw_input_shape)
    if metadata.raw_input_dtype != "uint8" or len(shape) not in (2, 3):
        return None
    if len(shape) == 2:
        return shape[0], shape[1], None
    return shape if shape[2] in CHANNEL_MODES else None


def read_image(path: Path, metadata: OnnxMetadata) -> np.ndarray:
    """A PNG or JPEG of exactly the model's raw image size, as uint8 pixels in the channels it takes (colour is
    converted to grey for a greyscale model, grey to colour for a colour one); the size is checked from the
    file's header before anything is decoded."""
    import warnings

    from PIL import Image

    layout = image_layout(metadata)
    if layout is None:
        raise PredictError(f"{path}: {metadata.model_name} does not take images; "
                           f"give .npy or .csv rows ({_expects(metadata)})")
    height, width, channels = layout
    kind = "PNG" if path.suffix.lower() == ".png" else "JPEG"
    size = png_size(path) if kind == "PNG" else _jpeg_size(path)
    if size != (width, height):
        raise PredictError(f"{path}: {size[0]}x{size[1]} pixels; {_expects(metadata)}, so resize it first")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow's DecompressionBombWarning: the size is already checked
            with Image.open(path, formats=[kind]) as image:
                if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "YCbCr"):
                    raise PredictError(f"{path}: {image.mode} pixels (more than 8 bits); give an 8-bit {kind} "
                                       f"({_expects(metadata)})")
                if image.size != (width, height):
                    raise PredictError(f"{path}: {image.size[0]}x{image.size[1]} pixels; {_expects(metadata)}")
                image.load()
                pixels = np.asarray(image.convert(CHANNEL_MODES[channels or 1]), dtype=np.uint8)
    except PredictError:
        raise
    except Exception as exc:  # a damaged image fails inside Pillow, zlib or libjpeg with many kinds of error
        raise PredictError(f"{path}: not a readable {kind} image ({first_line(exc)})") from exc
    return pixels[..., None] if channels == 1 else pixels


def _jpeg_size(path: Path) -> tuple[int, int]:
    """(width, height) of a JPEG from its header; Pillow opens it lazily, decoding nothing."""
    from PIL import Image

    try:
        with Image.open(path, formats=["JPEG"]) as image:
            return image.size
    except Image.DecompressionBombError as exc:
        raise PredictError(f"{path}: {first_line(exc)}; give an image of the size the model takes") from exc
    except Exception as exc:  # not a JPEG, or a damaged header
        raise PredictError(f"{path}: not a readable JPEG image ({first_line(exc)})") from exc


def read_npy(path: Path, metadata: OnnxMetadata) -> np.ndarray:
    """One raw sample or a batch of them from a .npy file, type-checked against the metadata.

    The header's shape and dtype are checked, and the file's length against them, before any data is read.
    """
    from numpy.lib import format as npy

    try:
        with open(path, "rb") as f:
            version = npy.read_magic(f)
            if version not in ((1, 0), (2, 0)):
                raise PredictError(f"{path}: .npy format version {version[0]}.{version[1]}, which zoo does not "
                                   "read; save the array with numpy.save")
            read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
            shape, fortran_order, dtype = read_header(f)
            data_start = f.tell()
    except PredictError:
        raise
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as exc:
        raise PredictError(f"{path}: not a readable .npy array ({first_line(exc)})") from exc
    where = str(path)
    if dtype.hasobject or dtype.kind not in "biuf" or dtype.fields:
        raise PredictError(f"{where}: {dtype} values; {_expects(metadata)}")
    _check_shape(tuple(shape), metadata, where)
    needed = math.prod(shape) * dtype.itemsize
    if path.stat().st_size - data_start < needed:
        raise PredictError(f"{where}: its header declares shape {tuple(shape)} ({needed:,} bytes of data) but the "
                           "file is shorter: it is truncated; save it again")
    try:
        array = np.load(path, allow_pickle=False, mmap_mode="r")
        array = np.array(array)  # only now, with the size known to fit the file, is the data read
    except (ValueError, OSError, EOFError) as exc:
        raise PredictError(f"{path}: not a readable .npy array ({first_line(exc)})") from exc
    return as_batch(array, metadata, where)


def _check_shape(shape: tuple[int, ...], metadata: OnnxMetadata, where: str) -> None:
    sample = tuple(metadata.raw_input_shape)
    if shape != sample and (shape[1:] != sample or shape[0] == 0):
        raise PredictError(f"{where}: an array of shape {shape}; {_expects(metadata)}: give shape "
                           f"{sample} for one sample or (N, {', '.join(map(str, sample))}) for N")


def as_batch(array: np.ndarray, metadata: OnnxMetadata, where: str) -> np.ndarray:
    """One raw sample or a batch of them as a batch of the raw dtype; PredictError for the wrong shape or values."""
    _check_shape(array.shape, metadata, where)
    if array.shape == tuple(metadata.raw_input_shape):
        array = array[None]
    return check_values(array, metadata, where)


# The longest line a CSV row of numbers is read up to: generous for any float's text, bounded per value.
CSV_CHARS_PER_VALUE = 40
CSV_SLACK = 1024


def read_csv(path: Path, metadata: OnnxMetadata) -> tuple[list[int], np.ndarray]:
    """Rows of raw values (a header row is skipped), one sample per row; returns line numbers and the batch.

    UTF-8, with or without a byte-order mark. A line is read only up to the length a row of the model's
    values can have, so memory stays bounded by the sample size whatever the file holds.
    """
    width = math.prod(metadata.raw_input_shape)
    longest = width * CSV_CHARS_PER_VALUE + CSV_SLACK
    lines, rows = [], []
    try:
        with open(path, encoding="utf-8-sig", newline="") as f:
            for number in itertools.count(1):
                line = f.readline(longest + 1)
                if not line:
                    break
                if len(line) > longest:
                    raise PredictError(f"{path} line {number}: longer than {longest:,} characters, more than a row "
                                       f"of {width} values; {metadata.model_name} takes {width} values per row")
                values = _csv_values(path, number, line, header_allowed=not rows and number == 1)
                if values is None:
                    continue
                if len(values) != width:
                    raise PredictError(f"{path} line {number}: {len(values)} values; {metadata.model_name} takes "
                                       f"{width} per row")
                lines.append(number)
                rows.append(values)
    except UnicodeDecodeError as exc:
        raise PredictError(f"{path}: not a UTF-8 text CSV file ({exc.reason})") from exc
    if not rows:
        raise PredictError(f"{path}: no rows of values")
    batch = np.asarray(rows, dtype=np.float64).reshape((len(rows), *metadata.raw_input_shape))
    return lines, check_values(batch, metadata, str(path))


def _csv_values(path: Path, number: int, line: str, *, header_allowed: bool) -> list[float] | None:
    """One line's numbers; None for a blank line or a header."""
    try:
        row = next(csv.reader([line]), [])
    except csv.Error as exc:
        raise PredictError(f"{path} line {number}: not a CSV row ({exc})") from exc
    if not row or all(not cell.strip() for cell in row):
        return None
    try:
        return [float(cell) for cell in row]
    except ValueError:
        if header_allowed:
            return None
        shown = line.strip()
        raise PredictError(f"{path} line {number}: not a number in "
                           f"{shown[:80] + '…' if len(shown) > 80 else shown!r}") from None


def check_values(array: np.ndarray, metadata: OnnxMetadata, where: str) -> np.ndarray:
    """``array`` as the raw dtype, refusing values that dtype cannot hold (e.g. already-scaled pixels).

    The finite check comes after the cast, so a number too large for float32 is refused, not fed as infinity.
    """
    if array.dtype.kind not in "biuf":
        raise PredictError(f"{where}: {array.dtype} values; {_expects(metadata)}")
    raw = np.dtype(metadata.raw_input_dtype)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise PredictError(f"{where}: holds NaN or infinite values")
    if raw.kind in "iu":
        info = np.iinfo(raw)
        whole = array.dtype.kind in "biu" or bool(np.all(array == np.round(array)))
        if not whole or array.min() < info.min or array.max() > info.max:
            raise PredictError(f"{where}: values from {array.min():g} to {array.max():g}; {_expects(metadata)}, "
                               f"raw, not preprocessed (zoo applies '{metadata.preprocessing}' itself)")
        bounds = metadata.raw_input_range
        if bounds is not None and (array.min() < bounds[0] or array.max() > bounds[1]):
            outside = array.flat[int(np.argmax((array.ravel() < bounds[0]) | (array.ravel() > bounds[1])))]
            raise PredictError(f"{where}: value {outside:g} is outside {bounds[0]}..{bounds[1]}, the token ids "
                               f"{metadata.model_name} knows (its vocabulary); map unknown words to an id in range")
        return array.astype(raw)
    with np.errstate(over="ignore", invalid="ignore"):
        cast = array.astype(raw)
    if not np.isfinite(cast).all():
        first = array.flat[int(np.argmin(np.isfinite(cast).ravel()))]
        raise PredictError(f"{where}: {first:g} is beyond {raw}'s range (±{float(np.finfo(raw).max):.3g}); "
                           f"{_expects(metadata)}")
    return cast
