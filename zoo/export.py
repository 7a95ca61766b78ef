"""ONNX exports an app can use with onnxruntime alone: converted, described, validated, recorded.

For each entry ``export_onnx`` writes, into the entry's (staging) folder:

- ``model.onnx``: the Keras model converted by tf2onnx (through ``model.export(format="onnx")``),
  opset ``OPSET``, a dynamic batch dimension, its input and output named for what they are,
  and ``metadata_props`` (``zoo.onnx_metadata``) saying how to feed it and read it;
- ``test_data_set_0/input_0.pb`` and ``output_0.pb``: TensorProtos of real test samples and the
  *Keras* model's outputs on them, in the ONNX Model Zoo's layout, so drift in a converter or
  runtime shows when an app replays them.

Nothing is written unless the export passes ``validate_onnx``: ``onnx.checker`` and onnxruntime
against Keras on every test sample. ``update_manifest`` then records the files' sha256 in
``<out>/manifest.json``.

Opset 15: tf2onnx 1.17's default, so its best-tested conversion path; onnxruntime has run it
since 1.10 (2021), mobile and web builds included; and every operator these networks need
(MatMul, Gemm, Conv, MaxPool, Relu, Softmax, Reshape, Transpose) has had its present meaning
since opset 13, so a newer opset would only shut out older runtimes.
"""

from __future__ import annotations

import contextlib
import datetime
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import environment, files
from zoo.errors import ExportError
from zoo.onnx_metadata import SCHEMA, OnnxMetadata
from zoo.specs import DatasetSpec, ModelSpec

if TYPE_CHECKING:
    import keras
    import onnx

    from zoo.registry import Registry
    from zoo.run import Run

OPSET = 15
# Largest |onnxruntime - Keras| allowed: absolute on probabilities, relative to the output's size
# above 1 (logits, regression values; see compare_outputs). Classes must also agree on every sample.
TOLERANCE = 1e-4
# Validation uses the whole test split; this many samples at least when the split has them.
MIN_VALIDATION_SAMPLES = 1000
RUNTIME_BATCH = 1000
REGRESSION_TEST_VECTORS = 16
ONNX_FILE = "model.onnx"
TEST_DATA_SET = "test_data_set_0"
MANIFEST = "manifest.json"
MANIFEST_SCHEMA = "zoo.manifest/1"


def tensor_names(spec: ModelSpec, dataset: DatasetSpec, raw_sample_shape: tuple[int, ...]) -> tuple[str, str]:
    """The graph's input and output names, from what the entry takes and gives.

    Derived from the spec and dataset alone, so a plugin's model exports with no code of its author's.
    """
    if len(raw_sample_shape) >= 2:
        input_name = "pixels"
    elif dataset.task == "regression" and raw_sample_shape in ((), (1,)):
        input_name = "x"
    else:
        input_name = "features"
    return input_name, ("y" if spec.outputs == "values" else spec.outputs)


def input_layout(input_shape: tuple[int, ...], raw_sample_shape: tuple[int, ...]) -> str:
    """How the model input's axes are laid out, e.g. ``NHWC``, for ``input_layout``."""
    if len(input_shape) == 3:
        return "NHWC (batch, height, width, channels)"
    if len(input_shape) == 2 and len(raw_sample_shape) == 2:
        return "NHW (batch, height, width)"
    if len(input_shape) == 1 and len(raw_sample_shape) >= 2:
        pixels = "x".join(str(d) for d in raw_sample_shape)
        return f"NC (batch, {pixels} pixels flattened row-major)"
    if len(input_shape) == 1:
        return "NC (batch, features)"
    return "N + " + ", ".join(str(d) for d in input_shape)


@dataclass(frozen=True)
class Comparison:
    """How far onnxruntime's outputs are from Keras' on the same inputs."""

    samples: int
    output_kind: str  # "probabilities", "logits" or "values"
    max_abs_diff: float  # max |onnxruntime - Keras| on the outputs as they are
    max_scaled_diff: float  # the same, each sample's divided by max(1, its largest |output|): held to tolerance
    tolerance: float
    class_mismatches: int | None  # samples whose predicted class differs; None for regression
    max_abs_diff_probabilities: float | None  # on probabilities, or softmax(logits); None for regression

    @property
    def passed(self) -> bool:
        """Within tolerance (NaN fails) and, for classifiers, the same class on every sample."""
        return bool(self.max_scaled_diff <= self.tolerance) and not self.class_mismatches

    def summary(self) -> str:
        """One line: how close, on how many samples."""
        text = f"max |onnxruntime - Keras| on {self.output_kind} {self.max_abs_diff:.3g}"
        if self.max_scaled_diff != self.max_abs_diff:
            text += f", {self.max_scaled_diff:.3g} relative to each sample's largest |{self.output_kind}|"
        text += f" (tolerance {self.tolerance:g}) over {self.samples:,} test samples"
        if self.class_mismatches is not None:
            text += (f"; predicted class differs on {self.class_mismatches:,}" if self.class_mismatches
                     else "; predicted class agrees on every sample")
        return text


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def probabilities(outputs: np.ndarray, kind: str) -> np.ndarray:
    """Class probabilities from a classifier's outputs: softmax of logits, probabilities as they are."""
    return softmax(outputs) if kind == "logits" else np.asarray(outputs, dtype=np.float64)


def compare_outputs(expected: np.ndarray, actual: np.ndarray, output_kind: str,
                    tolerance: float = TOLERANCE) -> Comparison:
    """Compare onnxruntime's outputs (``actual``) with Keras' (``expected``), row = sample.

    The rule: |difference| <= tolerance * max(1, the sample's largest |output|). Probabilities
    are at most 1, so for them this is the absolute 1e-4. Logits and regression values can be
    large, and float32 resolution grows with magnitude: ``fashion_linear``'s logits, sums of 784
    raw 0-255 pixels times weights, reach ~3,000, where one float32 step is 2.4e-4, and Keras
    and onnxruntime sum in different orders (we measured 0.002 apart, 1.2e-6 of the logit scale;
    Keras itself is 0.0024 from the float64 result). An absolute 1e-4 would reject an exact
    conversion, so above 1 the same 1e-4 is relative. Classifiers must also predict the same class
    on every sample; the difference in probabilities (softmax of logits) is recorded beside.
    """
    expected, actual = np.asarray(expected, np.float64), np.asarray(actual, np.float64)
    if expected.shape != actual.shape:
        raise ExportError(f"onnxruntime's output has shape {actual.shape}, Keras' {expected.shape}; "
                          "the conversion changed the model")
    rows = expected.reshape(len(expected), -1)
    diff = np.abs(rows - actual.reshape(len(actual), -1))
    scale = np.maximum(1.0, np.abs(rows).max(axis=1, keepdims=True)) if rows.size else 1.0
    raw, scaled = _max(diff), _max(diff / scale)
    if output_kind == "values":
        return Comparison(len(expected), output_kind, raw, scaled, tolerance, None, None)
    probabilities = raw if output_kind == "probabilities" else _max(np.abs(softmax(expected) - softmax(actual)))
    mismatches = int(np.count_nonzero(expected.argmax(axis=1) != actual.argmax(axis=1)))
    return Comparison(len(expected), output_kind, raw, scaled, tolerance, mismatches, probabilities)


def _max(values: np.ndarray) -> float:
    if values.size == 0:
        return 0.0
    return float("nan") if np.isnan(values).any() else float(values.max())


def onnx_unavailable_reason(name: str) -> str | None:
    """Why this process cannot export ``name`` (not the TensorFlow backend), or None."""
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        return None
    return (f"ONNX export skipped: tf2onnx needs the TensorFlow backend and this run used {backend}; "
            f"the saved model.keras exports with 'KERAS_BACKEND=tensorflow zoo export {name}'")


def convert_to_onnx(model: keras.Model, input_name: str, output_name: str, input_shape: tuple[int, ...],
                    opset: int = OPSET) -> onnx.ModelProto:
    """The Keras model as ONNX (tf2onnx), batch dimension dynamic, input and output renamed."""
    import keras
    import onnx

    signature = [keras.InputSpec(shape=(None, *input_shape), dtype="float32", name=input_name)]
    with tempfile.TemporaryDirectory(prefix="zoo-onnx-") as tmp, warnings.catch_warnings():
        # Keras' numpy-2 patch of tf2onnx sets np.object, which warns; nothing for the user to act on.
        warnings.simplefilter("ignore", FutureWarning)
        path = Path(tmp) / ONNX_FILE
        try:
            model.export(str(path), format="onnx", verbose=False, input_signature=signature, opset_version=opset)
            proto = onnx.load(str(path))
        except ExportError:
            raise
        except Exception as exc:  # tf2onnx and TensorFlow raise many kinds
            raise ExportError(f"tf2onnx could not convert the model ({type(exc).__name__}: {exc}); "
                              "nothing was written") from exc
    graph = proto.graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise ExportError(f"the ONNX graph has {len(graph.input)} inputs and {len(graph.output)} outputs; "
                          "zoo exports models with one input and one output")
    _rename(graph, graph.input[0].name, input_name)
    _rename(graph, graph.output[0].name, output_name)
    for value in (graph.input[0], graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    return proto


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    if old == new:
        return
    for node in graph.node:
        for names in (node.input, node.output):
            for i, name in enumerate(names):
                if name == old:
                    names[i] = new
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.name == old:
            value.name = new


def describe(run: Run, input_name: str, output_name: str, output_shape: tuple[int, ...]) -> OnnxMetadata:
    """The metadata of ``run``'s export: how to feed it, how to read it, what it scored."""
    spec, dataset, preprocess = run.spec, run.dataset, run.spec.preprocess
    input_shape, raw_shape = tuple(run.data.x_test.shape[1:]), tuple(run.splits.x_test.shape[1:])
    metric, value = run.evaluation.primary
    env = run.report.get("environment", {})
    trained_versions = env.get("versions", {})
    versions = environment.versions()
    return OnnxMetadata(
        zoo_metadata_schema=SCHEMA, model_name=spec.name, description=spec.description,
        dataset=dataset.name, dataset_source=dataset.source, task=spec.task,
        class_names=list(dataset.class_names) if spec.task == "classification" else [],
        target_names=([spec.target] if spec.target else list(dataset.target_names)) if spec.task == "regression" else [],
        input_name=input_name, input_shape=[None, *map(int, input_shape)], input_dtype="float32",
        input_layout=input_layout(input_shape, raw_shape),
        raw_input_shape=list(map(int, raw_shape)), raw_input_dtype=str(run.splits.x_test.dtype),
        preprocess_scale=float(preprocess.scale), preprocess_offset=float(preprocess.offset),
        preprocessing=preprocess.describe(),
        output_name=output_name, output_shape=[None, *map(int, output_shape)], output_kind=spec.outputs,
        metric_name=metric, metric_value=float(value), metric_test_samples=len(run.data.x_test),
        tutorial_title=spec.tutorial.title, tutorial_source=spec.tutorial.source,
        zoo_version=versions["zoo"],
        trained_with=f"keras {trained_versions.get('keras', '?')} ({env.get('backend', '?')} backend)",
        exported_with=", ".join(f"{lib} {versions[lib]}" for lib in ("tf2onnx", "tensorflow", "onnx")
                                if lib in versions),
        created=_now())


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def run_onnx(session, x: np.ndarray, batch: int = RUNTIME_BATCH) -> np.ndarray:
    """onnxruntime's outputs for ``x``, in batches (the CNN's activations for 10,000 images at once are large)."""
    name = session.get_inputs()[0].name
    parts = [session.run(None, {name: x[i:i + batch]})[0] for i in range(0, len(x), batch)]
    return np.concatenate(parts) if parts else np.empty((0,), np.float32)


def open_session(model_bytes: bytes, providers: tuple[str, ...] = ("CPUExecutionProvider",)):
    """An onnxruntime session of ``model_bytes`` (on the CPU unless ``providers`` say otherwise),
    with its start-up chatter off."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model_bytes, options, providers=list(providers))


def validate_onnx(proto: onnx.ModelProto, x: np.ndarray, expected: np.ndarray,
                  output_kind: str) -> tuple[bytes, Comparison]:
    """Check ``proto`` and compare onnxruntime with Keras' ``expected`` outputs on ``x``.

    Returns the serialized model that passed (the very bytes to write). Raises ExportError with
    one line saying how far off it is otherwise.
    """
    import onnx

    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"the ONNX model fails onnx.checker: {str(exc).splitlines()[0]}; "
                          "nothing was written") from exc
    model_bytes = proto.SerializeToString()
    try:
        session = open_session(model_bytes)
        actual = run_onnx(session, x)
        # One sample alone too: the batch dimension must really be dynamic.
        single = run_onnx(session, x[:1])
    except Exception as exc:  # onnxruntime's errors have no common base class
        raise ExportError(f"onnxruntime cannot run the export ({type(exc).__name__}: {exc}); "
                          "nothing was written") from exc
    comparison = compare_outputs(expected, actual, output_kind)
    alone = compare_outputs(expected[:1], single, output_kind)
    if not comparison.passed or not alone.passed:
        worst = comparison if not comparison.passed else alone
        raise ExportError(f"ONNX export failed validation: {worst.summary()}; model.onnx was not "
                          "written and any earlier export is unchanged")
    return model_bytes, comparison


def pick_test_vector_samples(spec: ModelSpec, truth: np.ndarray) -> list[int]:
    """Which test samples go into ``test_data_set_0``: the first of each class, or the first few."""
    if spec.task == "classification":
        classes = np.unique(truth)
        return [int(np.flatnonzero(truth == c)[0]) for c in classes]
    return list(range(min(REGRESSION_TEST_VECTORS, len(truth))))


def export_onnx(run: Run, folder: Path) -> dict[str, str]:
    """Convert, validate and write ``run``'s ONNX export and test vectors into ``folder``.

    ``folder`` is a staging folder: on any failure nothing of the export is written and ExportError
    propagates. Records the export's facts in ``run.report["onnx"]`` (the report is written after).
    Under a non-TensorFlow backend nothing is exported and ``run.report["onnx"]`` says why.
    Returns {kind: path relative to ``folder``} of the files written.
    """
    reason = onnx_unavailable_reason(run.spec.name)
    if reason:
        run.report["onnx"] = {"skipped": reason}
        return {}
    spec, data = run.spec, run.data
    x = np.asarray(data.x_test, dtype=np.float32)
    expected = run.evaluation.outputs
    if expected is None or len(expected) != len(x):
        from zoo.evaluate import predict

        expected = predict(run.model, x)
    input_name, output_name = tensor_names(spec, run.dataset, tuple(run.splits.x_test.shape[1:]))
    proto = convert_to_onnx(run.model, input_name, output_name, tuple(x.shape[1:]))
    metadata = describe(run, input_name, output_name, tuple(expected.shape[1:]))
    import onnx

    onnx.helper.set_model_props(proto, metadata.to_props())
    proto.doc_string = f"zoo {spec.name}: {spec.description}"
    proto.graph.name = spec.name
    model_bytes, comparison = validate_onnx(proto, x, expected, spec.outputs)

    files.write_bytes(folder / ONNX_FILE, model_bytes)
    indices = pick_test_vector_samples(spec, data.truth)
    vectors = write_test_vectors(folder / TEST_DATA_SET, x[indices], input_name, expected[indices], output_name)
    written = {"onnx": ONNX_FILE, **{f"onnx_{p.stem}": str(p.relative_to(folder)) for p in vectors}}
    n_test = len(x)
    validation = asdict(comparison)
    validation["test_samples"] = n_test
    validation["note"] = (f"all {n_test:,} test samples" if n_test >= MIN_VALIDATION_SAMPLES else
                          f"all {n_test:,} test samples (the test split has fewer than {MIN_VALIDATION_SAMPLES:,})")
    run.report["onnx"] = {
        "file": ONNX_FILE, **file_facts(folder / ONNX_FILE),
        "opset": OPSET, "ir_version": int(proto.ir_version),
        "input": {"name": input_name, "shape": metadata.input_shape, "dtype": "float32",
                  "layout": metadata.input_layout, "preprocessing": metadata.preprocessing},
        "output": {"name": output_name, "shape": metadata.output_shape, "kind": spec.outputs},
        "metric": {"name": metadata.metric_name, "value": metadata.metric_value, "test_samples": n_test},
        "validation": validation,
        "test_data_set": {"folder": TEST_DATA_SET, "test_indices": indices,
                          "files": {str(p.relative_to(folder)): file_facts(p) for p in vectors}},
        "exported_with": metadata.exported_with, "created": metadata.created,
    }
    return written


def write_test_vectors(folder: Path, x: np.ndarray, input_name: str, y: np.ndarray, output_name: str) -> list[Path]:
    """``input_0.pb`` and ``output_0.pb``: TensorProtos named as the graph's input and output."""
    from onnx import numpy_helper

    paths = [folder / "input_0.pb", folder / "output_0.pb"]
    for path, array, name in zip(paths, (x, y), (input_name, output_name)):
        tensor = numpy_helper.from_array(np.ascontiguousarray(array, dtype=np.float32), name=name)
        files.write_bytes(path, tensor.SerializeToString())
    return paths


def read_tensor(path: Path) -> np.ndarray:
    """A TensorProto file as a numpy array."""
    from onnx import TensorProto, numpy_helper

    tensor = TensorProto()
    tensor.ParseFromString(Path(path).read_bytes())
    return numpy_helper.to_array(tensor)


def file_facts(path: Path) -> dict[str, Any]:
    """``{"sha256", "bytes"}`` of a file."""
    return {"sha256": files.sha256_file(path), "bytes": path.stat().st_size}


def export_saved_run(name: str, out: str | Path, data_dir: str | Path | None = None,
                     registry: Registry | None = None) -> Run:
    """``zoo export``: add the ONNX export to the earlier run of ``name`` saved under ``out``.

    All or nothing: the entry's folder is copied, the export and the updated report are written
    into the copy, and the copy replaces the folder only if everything succeeded.
    """
    # zoo.run imports this module for its own export step; importing it here avoids the cycle.
    import keras

    from zoo.report import write_report
    from zoo.run import load_run

    reason = onnx_unavailable_reason(name)
    if reason:
        raise ExportError(f"cannot export under the {keras.backend.backend()} backend: tf2onnx needs "
                          f"TensorFlow; run 'KERAS_BACKEND=tensorflow zoo export {name}'")
    run = load_run(name, out, data_dir, registry)
    with files.staged_folder(run.folder, copy_existing=True) as staging:
        written = export_onnx(run, staging)
        json_path, md_path = write_report(run.report, staging)
    run.paths = {kind: run.folder / path for kind, path in
                 {**written, "report_json": json_path.name, "report_md": md_path.name}.items()}
    update_manifest(run.folder, run.report)
    return run


def read_manifest(out: str | Path) -> dict[str, Any] | None:
    """``<out>/manifest.json``, or None when there is none; ExportError when it is not a zoo manifest."""
    import json

    path = Path(out) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: unreadable ({exc}); delete it and run 'zoo export --all' to rebuild it") from exc
    if not isinstance(manifest, dict) or manifest.get("schema") != MANIFEST_SCHEMA:
        raise ExportError(f"{path}: not a {MANIFEST_SCHEMA} manifest; delete it and run 'zoo export --all'")
    return manifest


def manifest_entry(folder: Path, report: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest's record of the export in ``folder`` (hashed from the files there), or None if none."""
    facts = report.get("onnx") or {}
    if "file" not in facts or not (folder / ONNX_FILE).is_file():
        return None
    names = [ONNX_FILE, *facts["test_data_set"]["files"]]
    return {
        "dataset": report["dataset"], "task": report["task"],
        "files": {f"{folder.name}/{n}": file_facts(folder / n) for n in names},
        "opset": facts["opset"], "input": facts["input"], "output": facts["output"],
        "metric": facts["metric"],
        "validation": {k: facts["validation"][k] for k in ("samples", "output_kind", "max_abs_diff",
                                                             "max_scaled_diff", "tolerance", "class_mismatches")},
        "versions": environment.versions(),
        "created": facts["created"],
    }


def update_manifest(folder: str | Path, report: dict[str, Any]) -> Path:
    """Record (or, when it has no export, drop) the entry in ``folder`` in its parent's ``manifest.json``.

    Read-modify-write under a lock on the folder, then an atomic replace, so concurrent exports
    into the same ``out`` neither lose each other's entries nor leave a half-written file.
    """
    folder = Path(folder)
    out = folder.parent
    with _locked(out):
        manifest = read_manifest(out) or {"schema": MANIFEST_SCHEMA, "entries": {}}
        entries = dict(manifest.get("entries", {}))
        entry = manifest_entry(folder, report)
        if entry is None and folder.name not in entries:
            return out / MANIFEST
        if entry is None:
            entries.pop(folder.name, None)
        else:
            entries[folder.name] = entry
        manifest = {"schema": MANIFEST_SCHEMA, "updated": _now(), "entries": dict(sorted(entries.items()))}
        files.write_json(out / MANIFEST, manifest)
    return out / MANIFEST


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the atomic replace still keeps the file whole
        yield
        return
    import os

    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
