"""``zoo predict`` and ``zoo.load_onnx``: run raw samples (arrays, PNG/NPY images, CSV rows) through an
entry's ONNX export.

Uses onnxruntime, numpy and Pillow only, never Keras: what it does, an app can do with the
export's metadata alone. The model file must match the sha256 that ``manifest.json`` records,
so a replaced or damaged file is refused rather than trusted. Without a folder given, the export
comes from the reference set shipped with zoo, or, for an entry it lacks (a plugin's), from the
user's runs.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo import files, locations
from zoo.errors import ZooError
from zoo.exports.manifest import MANIFEST, ONNX_FILE, recorded_sha256
from zoo.exports.metadata import OnnxMetadata
from zoo.exports.runtime import open_session, run_onnx
from zoo.probabilities import probabilities

SUFFIXES = (".png", ".npy", ".csv")


class PredictError(ZooError):
    """An input or export that ``zoo predict`` cannot use."""


@dataclass
class OnnxExport:
    """An entry's verified ONNX file, its onnxruntime session and its metadata."""

    path: Path
    session: Any  # onnxruntime.InferenceSession
    metadata: OnnxMetadata

    def outputs(self, raw: np.ndarray) -> np.ndarray:
        """The model's outputs for a batch of raw samples, preprocessed as the metadata says."""
        return run_onnx(self.session, self.metadata.preprocess(raw))

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        """Class probabilities for a batch of raw samples (softmax applied to logits)."""
        return probabilities(self.outputs(raw), self.metadata.output_kind)

    def predict(self, raw) -> np.ndarray:
        """Class probabilities (classifiers) or predicted values (regression) for raw samples.

        ``raw`` is one raw sample (e.g. a 28x28 uint8 image, four Iris measurements) or a batch of
        them, checked as ``zoo predict`` checks a .npy file: shape, and values the raw dtype can hold.
        """
        batch = as_batch(np.asarray(raw), self.metadata, "raw")
        if self.metadata.task == "classification":
            return self.probabilities(batch)
        return self.outputs(batch).reshape(len(batch), -1)

    def predictions(self, raw, labels: list[str] | None = None, top: int = 3) -> list[Prediction]:
        """What each raw sample is predicted to be, as ``zoo predict`` prints it."""
        batch = as_batch(np.asarray(raw), self.metadata, "raw")
        labels = labels or [f"[{i}]" for i in range(len(batch))]
        return describe_predictions(self, labels, batch, top)

    def _repr_html_(self) -> str:
        from zoo.web.notebook import export_html

        return export_html(self)


@dataclass
class Prediction:
    """What one sample was predicted to be."""

    source: str  # e.g. "seven.png", "batch.npy[3]", "rows.csv line 2"
    classes: list[tuple[str, float]]  # classification: (class name, probability), best first
    values: list[tuple[str, float]]  # regression: (target name, predicted value)
    inputs: list[float]  # regression: the raw input values, to show beside the prediction

    def describe(self) -> str:
        """One line, e.g. ``seven.png: 7 99.12%, 3 0.50%, 9 0.20%``."""
        if self.classes:
            return f"{self.source}: " + ", ".join(f"{name} {p:.2%}" for name, p in self.classes)
        given = ", ".join(f"{v:g}" for v in self.inputs)
        return f"{self.source}: x = {given} -> " + ", ".join(f"{name} = {v:.6g}" for name, v in self.values)

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        if self.classes:
            return {"source": self.source, "classes": [{"name": n, "probability": p} for n, p in self.classes]}
        return {"source": self.source, "x": self.inputs, "y": {n: v for n, v in self.values}}


def export_folder(name: str, out: str | Path | None = None) -> Path:
    """The folder whose ``NAME/model.onnx`` serves ``name``: ``out`` when given; else the reference set
    when it has the entry, else the user's runs folder."""
    if out is not None:
        return Path(out)
    reference = locations.reference_dir()
    if reference is not None and (reference / name / ONNX_FILE).is_file():
        return reference
    return locations.runs_dir()


def open_export(name: str, out: str | Path | None = None) -> OnnxExport:
    """The ONNX export of ``name`` under ``out`` (see ``export_folder``), checked against ``manifest.json``."""
    out = export_folder(name, out)
    path = out / name / ONNX_FILE
    files.recover(out / name)
    try:
        model_bytes = path.read_bytes()
    except FileNotFoundError:
        how = (f"'zoo export {name} --out {out}'" if (out / name / "model.keras").is_file() else
               f"'zoo run {name} --out {out}'")
        raise PredictError(f"{path}: no ONNX export of {name!r}; make one with {how} first") from None
    verify_sha256(model_bytes, path, name, out)
    try:
        session = open_session(model_bytes)
    except Exception as exc:  # onnxruntime's errors share no base class
        raise PredictError(f"{path}: onnxruntime cannot load it ({exc}); run 'zoo export {name}' again") from exc
    metadata = OnnxMetadata.from_props(session.get_modelmeta().custom_metadata_map, str(path))
    return OnnxExport(path, session, metadata)


def verify_sha256(model_bytes: bytes, path: Path, name: str, out: Path) -> None:
    """Refuse a model file whose sha256 is not the one ``manifest.json`` recorded for it."""
    import hashlib

    key = f"{name}/{ONNX_FILE}"
    recorded = recorded_sha256(out, name)
    if recorded is None:
        raise PredictError(f"{out / MANIFEST} has no sha256 for {key}, so {path} cannot be verified; "
                           f"run 'zoo export {name} --out {out}' to export and record it")
    actual = hashlib.sha256(model_bytes).hexdigest()
    if actual != recorded:
        raise PredictError(f"{path}: sha256 {actual[:12]}… differs from {recorded[:12]}… in {out / MANIFEST}; "
                           f"the file was changed after export: run 'zoo export {name} --out {out}' again")


def read_samples(path: str | Path, metadata: OnnxMetadata) -> tuple[list[str], np.ndarray]:
    """The raw samples in one file, as a batch of ``metadata.raw_input_shape``, and a label for each."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise PredictError(f"{path}: unsupported file type {suffix or '(none)'!r}; give PNG images, "
                           ".npy arrays or .csv rows")
    if not path.is_file():
        raise PredictError(f"{path}: no such file")
    if suffix == ".png":
        return [path.name], read_png(path, metadata)[None]
    if suffix == ".npy":
        batch = read_npy(path, metadata)
        return ([path.name] if len(batch) == 1 else [f"{path.name}[{i}]" for i in range(len(batch))]), batch
    lines, batch = read_csv(path, metadata)
    return [f"{path.name} line {n}" for n in lines], batch


def _expects(metadata: OnnxMetadata) -> str:
    shape = "x".join(map(str, metadata.raw_input_shape))
    raw = "pixels 0-255" if metadata.raw_input_dtype == "uint8" else "values"
    return f"{metadata.model_name} takes {shape} {metadata.raw_input_dtype} {raw}"


def read_png(path: Path, metadata: OnnxMetadata) -> np.ndarray:
    """A greyscale PNG of exactly the model's raw image size, as uint8 pixels."""
    from PIL import Image, UnidentifiedImageError

    shape = tuple(metadata.raw_input_shape)
    if len(shape) != 2 or metadata.raw_input_dtype != "uint8":
        raise PredictError(f"{path}: {metadata.model_name} does not take images; "
                           f"give .npy or .csv rows ({_expects(metadata)})")
    try:
        with Image.open(path) as image:
            image.load()
            if image.format != "PNG":
                raise PredictError(f"{path}: a {image.format} image named .png; give a PNG")
            if image.mode not in ("1", "L", "LA", "P", "RGB", "RGBA"):
                raise PredictError(f"{path}: {image.mode} pixels (more than 8 bits); give an 8-bit PNG "
                                   f"({_expects(metadata)})")
            if image.size != (shape[1], shape[0]):
                raise PredictError(f"{path}: {image.size[0]}x{image.size[1]} pixels; {_expects(metadata)}, "
                                   "so resize it first")
            pixels = np.asarray(image.convert("L"), dtype=np.uint8)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise PredictError(f"{path}: not a readable PNG image ({exc})") from exc
    return pixels


def read_npy(path: Path, metadata: OnnxMetadata) -> np.ndarray:
    """One raw sample or a batch of them from a .npy file, type-checked against the metadata."""
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise PredictError(f"{path}: not a readable .npy array ({exc})") from exc
    return as_batch(array, metadata, str(path))


def as_batch(array: np.ndarray, metadata: OnnxMetadata, where: str) -> np.ndarray:
    """One raw sample or a batch of them as a batch of the raw dtype; PredictError for the wrong shape or values."""
    shape = tuple(metadata.raw_input_shape)
    if array.shape == shape:
        array = array[None]
    elif array.shape[1:] != shape or len(array) == 0:
        raise PredictError(f"{where}: an array of shape {array.shape}; {_expects(metadata)}: give shape "
                           f"{shape} for one sample or (N, {', '.join(map(str, shape))}) for N")
    return check_values(array, metadata, where)


def read_csv(path: Path, metadata: OnnxMetadata) -> tuple[list[int], np.ndarray]:
    """Rows of raw values (a header row is skipped), one sample per row; returns line numbers and the batch."""
    width = math.prod(metadata.raw_input_shape)
    lines, rows = [], []
    try:
        with open(path, newline="") as f:
            for number, row in enumerate(csv.reader(f), start=1):
                if not row or all(not cell.strip() for cell in row):
                    continue
                try:
                    values = [float(cell) for cell in row]
                except ValueError:
                    if not rows and number == 1:
                        continue  # a header
                    raise PredictError(f"{path} line {number}: not a number in {row!r}") from None
                if len(values) != width:
                    raise PredictError(f"{path} line {number}: {len(values)} values; {metadata.model_name} takes "
                                       f"{width} per row")
                lines.append(number)
                rows.append(values)
    except UnicodeDecodeError as exc:
        raise PredictError(f"{path}: not a text CSV file ({exc.reason})") from exc
    if not rows:
        raise PredictError(f"{path}: no rows of values")
    batch = np.asarray(rows, dtype=np.float64).reshape((len(rows), *metadata.raw_input_shape))
    return lines, check_values(batch, metadata, str(path))


def check_values(array: np.ndarray, metadata: OnnxMetadata, where: str) -> np.ndarray:
    """``array`` as the raw dtype, refusing values that dtype cannot hold (e.g. already-scaled pixels)."""
    if array.dtype.kind not in "biuf":
        raise PredictError(f"{where}: {array.dtype} values; {_expects(metadata)}")
    raw = np.dtype(metadata.raw_input_dtype)
    if not np.isfinite(array).all():
        raise PredictError(f"{where}: holds NaN or infinite values")
    if raw.kind in "iu":
        info = np.iinfo(raw)
        whole = array.dtype.kind in "biu" or bool(np.all(array == np.round(array)))
        if not whole or array.min() < info.min or array.max() > info.max:
            raise PredictError(f"{where}: values from {array.min():g} to {array.max():g}; {_expects(metadata)}, "
                               f"raw, not preprocessed (zoo applies '{metadata.preprocessing}' itself)")
    return array.astype(raw)


def predict_files(export: OnnxExport, paths: list[str | Path], top: int = 3) -> list[Prediction]:
    """Predictions for every sample in ``paths``: the ``top`` classes, or the regression values."""
    predictions = []
    for path in paths:
        labels, raw = read_samples(path, export.metadata)
        predictions += describe_predictions(export, labels, raw, top)
    return predictions


def describe_predictions(export: OnnxExport, labels: list[str], raw: np.ndarray, top: int) -> list[Prediction]:
    """A Prediction per raw sample of a checked batch: the ``top`` classes, or the regression values."""
    metadata = export.metadata
    if metadata.task == "classification":
        rows = export.probabilities(raw)
        best = [np.argsort(-row, kind="stable")[:top] for row in rows]
        return [Prediction(label, [(metadata.class_names[i], float(row[i])) for i in order], [], [])
                for label, row, order in zip(labels, rows, best)]
    outputs = export.outputs(raw).reshape(len(raw), -1)
    return [Prediction(label, [], list(zip(metadata.target_names, map(float, row))), [float(v) for v in x])
            for label, x, row in zip(labels, raw.reshape(len(raw), -1), outputs)]
