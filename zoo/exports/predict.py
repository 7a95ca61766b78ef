"""``zoo predict`` and ``zoo.load_onnx``: run raw samples (arrays, PNG/NPY images, CSV rows) through an
entry's ONNX export.

Uses onnxruntime, numpy and Pillow only, never Keras: what it does, an app can do with the
export's files alone. Raw samples go to ``end_to_end/model.onnx``, which preprocesses them itself, when the
manifest records one; exports of earlier zoo versions have ``model.onnx`` alone, fed as its metadata says.
The model files must match the sha256 that ``manifest.json`` records, so a replaced or damaged file is
refused rather than trusted. Without a folder given, the export
comes from the reference set the entry's plugin ships (zoo's own for the built-ins), or, for an entry
without one, from the user's runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from zoo import locations
from zoo.errors import ZooError, first_line
from zoo.exports.manifest import END_TO_END_FILE, MANIFEST, ONNX_FILE, recorded_sha256
from zoo.exports.metadata import OnnxMetadata
from zoo.exports.runtime import open_session, run_onnx
from zoo.exports.samples import NonFiniteOutputError, PredictError, as_batch, read_samples
from zoo.probabilities import probabilities


@dataclass
class OnnxExport:
    """An entry's verified ONNX file, its onnxruntime session and its metadata."""

    path: Path
    session: Any  # onnxruntime.InferenceSession
    metadata: OnnxMetadata
    end_to_end: bool = False  # the session is end_to_end/model.onnx's: raw samples in, probabilities (or y) out

    def outputs(self, raw: np.ndarray) -> np.ndarray:
        """The outputs for a batch of raw samples: the end-to-end file's first (probabilities, or y), or
        model.onnx's on the samples preprocessed as the metadata says.

        PredictError, in one line, when onnxruntime refuses the batch or the outputs are not finite numbers.
        """
        if self.end_to_end:
            model_input = np.asarray(raw).astype(np.dtype(self.metadata.raw_input_dtype), copy=False)
        else:
            with np.errstate(over="ignore", invalid="ignore"):
                model_input = self.metadata.preprocess(raw)
        try:
            outputs = run_onnx(self.session, model_input)
        except Exception as exc:  # onnxruntime's errors share no base class
            raise PredictError(f"{self.path}: onnxruntime cannot run these samples ({first_line(exc)})") from exc
        bad = ~np.isfinite(outputs.reshape(len(outputs), -1)).all(axis=1)
        if bad.any():
            raise NonFiniteOutputError(int(np.flatnonzero(bad)[0]), self.metadata)
        return outputs

    def probabilities(self, raw: np.ndarray) -> np.ndarray:
        """Class probabilities for a batch of raw samples (softmax applied to logits)."""
        if self.end_to_end:
            return self.outputs(raw)
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
    """The folder whose ``NAME/model.onnx`` serves ``name``: ``out`` when given; else the reference set its plugin
    ships (zoo's own for the built-ins, downloaded first if it is given by URL), when that has the entry; else the
    user's runs folder."""
    if out is not None:
        return Path(out)
    from zoo.plugins import load_registry
    from zoo.reference_sets import reference_root

    shipped = reference_root(name, load_registry(), fetch=True)
    if shipped is not None and (shipped / name / ONNX_FILE).is_file():
        return shipped
    return locations.runs_dir()


def open_export(name: str, out: str | Path | None = None) -> OnnxExport:
    """The ONNX export of ``name`` under ``out`` (see ``export_folder``), checked against ``manifest.json``."""
    from zoo.commit import settle
    from zoo.folder_lock import locked

    out = export_folder(name, out)
    settle(out)
    try:
        file, model_bytes = _verified_model(name, out)
    except PredictError:
        if not out.is_dir():
            raise
        # A writer may have swapped the folder between our reads of the manifest and the file: once no
        # writer holds the folder, the two agree again, or the error stands.
        with locked(out):
            file, model_bytes = _verified_model(name, out)
    path = out / name / file
    try:
        session = open_session(model_bytes)
    except Exception as exc:  # onnxruntime's errors share no base class
        raise PredictError(f"{path}: onnxruntime cannot load it ({first_line(exc)}); run 'zoo export {name}' "
                           "again") from exc
    metadata = OnnxMetadata.from_props(session.get_modelmeta().custom_metadata_map, str(path))
    if metadata.model_name != name:
        raise PredictError(f"{path}: the export of {metadata.model_name!r}, not of {name!r}; run "
                           f"'zoo export {name} --out {out}' to export {name} again")
    return OnnxExport(path, session, metadata, end_to_end=file == END_TO_END_FILE)


def _verified_model(name: str, out: Path) -> tuple[str, bytes]:
    """The file to run and its verified bytes: the end-to-end file when the manifest records one (model.onnx is
    verified all the same), else model.onnx."""
    model_bytes = verified_bytes(name, out)
    try:
        end_to_end = recorded_sha256(out, name, END_TO_END_FILE)
    except ZooError as exc:
        raise PredictError(str(exc)) from exc
    if end_to_end is None:
        return ONNX_FILE, model_bytes
    return END_TO_END_FILE, verified_bytes(name, out, END_TO_END_FILE)


def verified_bytes(name: str, out: Path, file: str = ONNX_FILE) -> bytes:
    """``out/NAME/file``'s bytes once their sha256 is the one ``out/manifest.json`` records; PredictError otherwise."""
    path = out / name / file
    try:
        model_bytes = path.read_bytes()
    except FileNotFoundError:
        how = (f"'zoo export {name} --out {out}'" if (out / name / "model.keras").is_file() else
               f"'zoo run {name} --out {out}'")
        raise PredictError(f"{path}: no ONNX export of {name!r}; make one with {how} first") from None
    except OSError as exc:
        raise PredictError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    verify_sha256(model_bytes, path, name, out, file)
    return model_bytes


def verify_sha256(model_bytes: bytes, path: Path, name: str, out: Path, file: str = ONNX_FILE) -> None:
    """Refuse a model file whose sha256 is not the one ``manifest.json`` recorded for it."""
    import hashlib

    key = f"{name}/{file}"
    try:
        recorded = recorded_sha256(out, name, file)
    except ZooError as exc:
        raise PredictError(str(exc)) from exc
    if recorded is None:
        raise PredictError(f"{out / MANIFEST} has no sha256 for {key}, so {path} cannot be verified; "
                           f"run 'zoo export {name} --out {out}' to export and record it")
    actual = hashlib.sha256(model_bytes).hexdigest()
    if actual != recorded:
        raise PredictError(f"{path}: sha256 {actual[:12]}… differs from {recorded[:12]}… in {out / MANIFEST}; "
                           f"the file was changed after export: run 'zoo export {name} --out {out}' again")


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
    try:
        return _describe(export, labels, raw, top)
    except NonFiniteOutputError as exc:
        raise NonFiniteOutputError(exc.index, metadata, labels[exc.index]) from None


def _describe(export: OnnxExport, labels: list[str], raw: np.ndarray, top: int) -> list[Prediction]:
    metadata = export.metadata
    if metadata.task == "classification":
        rows = export.probabilities(raw)
        best = [np.argsort(-row, kind="stable")[:top] for row in rows]
        return [Prediction(label, [(metadata.class_names[i], float(row[i])) for i in order], [], [])
                for label, row, order in zip(labels, rows, best)]
    outputs = export.outputs(raw).reshape(len(raw), -1)
    return [Prediction(label, [], list(zip(metadata.target_names, map(float, row))), [float(v) for v in x])
            for label, x, row in zip(labels, raw.reshape(len(raw), -1), outputs)]
