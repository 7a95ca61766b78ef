"""ONNX exports an app can use with onnxruntime alone: converted, described, validated, written.

``export_onnx`` takes a trained Keras model and what it was trained on (an ``ExportRequest``)
and writes, into a (staging) folder:

- ``model.onnx``: the model converted by ``zoo.exports.convert``, opset ``OPSET``, a dynamic batch
  dimension, its input and output named for what they are, and ``metadata_props``
  (``zoo.exports.metadata``) saying how to feed it and read it;
- ``test_data_set_0/input_0.pb`` and ``output_0.pb``: TensorProtos of real test samples and the
  *Keras* model's outputs on them, in the ONNX Model Zoo's layout, so drift in a converter or
  runtime shows when an app replays them;
- given the raw test split, ``end_to_end/model.onnx`` and its own ``test_data_set_0``: the same network
  taking raw samples and giving probabilities and class, or values (``zoo.exports.end_to_end``).

The conversion runs under TensorFlow whatever backend trained the model (under JAX or PyTorch in a
TensorFlow child process, ``zoo.exports.convert_child``); the facts' ``conversion`` says where, and
``keras_backend`` the backend whose outputs (``request.expected``) the export was validated against.

Nothing is written unless the export passes ``validate_onnx``: ``onnx.checker`` and onnxruntime
against Keras on every test sample (``zoo.exports.compare``), and the end-to-end file its own validation.
It returns the export's facts for the run's report; recording them (report, ``zoo.exports.manifest``) is
the caller's business.

Opset 15: tf2onnx 1.17's default, so its best-tested conversion path; onnxruntime has run it
since 1.10 (2021), mobile and web builds included; and every operator these networks need
(MatMul, Gemm, Conv, MaxPool, Relu, Softmax, Reshape, Transpose) has had its present meaning
since opset 13, so a newer opset would only shut out older runtimes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import environment, files
from zoo.exports.compare import Comparison, compare_outputs
from zoo.exports.convert import OPSET, convert_to_onnx
from zoo.exports.convert_child import convert_in_tensorflow
from zoo.exports.end_to_end import build_end_to_end, write_end_to_end
from zoo.errors import ExportError
from zoo.exports.manifest import ONNX_FILE, file_facts
from zoo.exports.metadata import SCHEMA, OnnxMetadata
from zoo.exports.runtime import checked_bytes, open_session, run_onnx
from zoo.specs import DatasetSpec, ModelSpec

if TYPE_CHECKING:
    import keras
    import onnx

# Validation uses the whole test split; this many samples at least when the split has them.
MIN_VALIDATION_SAMPLES = 1000
REGRESSION_TEST_VECTORS = 16
TEST_DATA_SET = "test_data_set_0"


@dataclass(frozen=True)
class ExportRequest:
    """What an export needs besides the model: the entry, its test split, and what the model scored on it."""

    spec: ModelSpec
    dataset: DatasetSpec
    x_test: np.ndarray  # preprocessed, as the model takes it
    truth: np.ndarray  # class indices, or target values
    expected: np.ndarray  # the Keras model's outputs on x_test
    raw_shape: tuple[int, ...]  # one raw sample's shape, before preprocessing
    raw_dtype: str
    metric: tuple[str, float]  # the headline test metric and its value
    trained_with: str  # e.g. "keras 3.15.1 (tensorflow backend)"
    # The raw test split (x_test before preprocessing, row for row): given, the end-to-end file
    # (zoo.exports.end_to_end) is built and validated on it too; None (zoo check's throwaway export) skips it.
    x_raw: np.ndarray | None = None


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


def token_range(model: keras.Model, raw_dtype: str) -> list[int] | None:
    """``[0, vocabulary - 1]`` when the model's integer input goes straight into an ``Embedding``, else None."""
    if np.dtype(raw_dtype).kind not in "iu":
        return None
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    first = layers[0] if layers else None
    vocabulary = getattr(first, "input_dim", None) if type(first).__name__ == "Embedding" else None
    return [0, int(vocabulary) - 1] if vocabulary else None


def describe(request: ExportRequest, input_name: str, output_name: str,
             raw_range: list[int] | None = None) -> OnnxMetadata:
    """The metadata of an export: how to feed it, how to read it, what it scored."""
    spec, dataset, preprocess = request.spec, request.dataset, request.spec.preprocess
    input_shape = tuple(request.x_test.shape[1:])
    metric, value = request.metric
    versions = environment.versions()
    return OnnxMetadata(
        zoo_metadata_schema=SCHEMA, model_name=spec.name, description=spec.description,
        dataset=dataset.name, dataset_source=dataset.source, task=spec.task,
        class_names=list(dataset.class_names) if spec.task == "classification" else [],
        target_names=([spec.target] if spec.target else list(dataset.target_names)) if spec.task == "regression" else [],
        input_name=input_name, input_shape=[None, *map(int, input_shape)], input_dtype="float32",
        input_layout=input_layout(input_shape, request.raw_shape),
        raw_input_shape=list(map(int, request.raw_shape)), raw_input_dtype=request.raw_dtype,
        preprocess_scale=preprocess.scale_value, preprocess_offset=preprocess.offset_value,
        preprocessing=preprocess.describe(),
        output_name=output_name, output_shape=[None, *map(int, request.expected.shape[1:])],
        output_kind=spec.outputs,
        metric_name=metric, metric_value=float(value), metric_test_samples=len(request.x_test),
        tutorial_title=spec.tutorial.title, tutorial_source=spec.tutorial.source,
        zoo_version=versions["zoo"], trained_with=request.trained_with,
        exported_with=", ".join(f"{lib} {versions[lib]}" for lib in ("tf2onnx", "tensorflow", "onnx")
                                if lib in versions),
        created=environment.now(), raw_input_range=raw_range)


def validate_onnx(proto: onnx.ModelProto, x: np.ndarray, expected: np.ndarray,
                  output_kind: str) -> tuple[bytes, Comparison]:
    """Check ``proto`` and compare onnxruntime with Keras' ``expected`` outputs on ``x``.

    Returns the serialized model that passed (the very bytes to write). Raises ExportError with
    one line saying how far off it is otherwise.
    """
    model_bytes = checked_bytes(proto, "the ONNX model")
    try:
        session = open_session(model_bytes)
        actual = run_onnx(session, x)
        # One sample alone too: the batch dimension must really be dynamic.
        single = run_onnx(session, x[:1])
    except Exception as exc:  # onnxruntime's errors have no common base class
        raise ExportError(f"onnxruntime cannot run the export ({type(exc).__name__}: "
                          f"{str(exc).splitlines()[0] if str(exc) else ''}); nothing was written") from exc
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


def export_onnx(model: keras.Model, request: ExportRequest, folder: Path) -> dict[str, Any]:
    """Convert, validate and write the model's ONNX export and test vectors into ``folder``; return its facts.

    ``folder`` is a staging folder: on any failure nothing of the export is written and ExportError
    propagates. The facts (file, sha256, opset, input, output, metric, validation, test vectors)
    are what ``report.json`` records under ``"onnx"`` and ``manifest.json`` from it.
    """
    import onnx

    spec = request.spec
    x = np.asarray(request.x_test, dtype=np.float32)
    input_name, output_name = tensor_names(spec, request.dataset, request.raw_shape)
    proto, conversion = _convert(model, input_name, output_name, tuple(x.shape[1:]), spec)
    metadata = describe(request, input_name, output_name, token_range(model, request.raw_dtype))
    onnx.helper.set_model_props(proto, metadata.to_props())
    proto.doc_string = f"zoo {spec.name}: {spec.description}"
    proto.graph.name = spec.name
    model_bytes, comparison = validate_onnx(proto, x, request.expected, spec.outputs)
    end_to_end = None if request.x_raw is None else build_end_to_end(proto, request.x_raw, request.expected)

    files.write_bytes(folder / ONNX_FILE, model_bytes)
    indices = pick_test_vector_samples(spec, request.truth)
    vectors = write_test_vectors(folder / TEST_DATA_SET, x[indices], input_name, request.expected[indices],
                                 output_name)
    n_test = len(x)
    validation = {**asdict(comparison), "test_samples": n_test,
                  "note": (f"all {n_test:,} test samples" if n_test >= MIN_VALIDATION_SAMPLES else
                           f"all {n_test:,} test samples (the test split has fewer than {MIN_VALIDATION_SAMPLES:,})")}
    return {
        "file": ONNX_FILE, **file_facts(folder / ONNX_FILE),
        "opset": OPSET, "ir_version": int(proto.ir_version),
        "input": {"name": input_name, "shape": metadata.input_shape, "dtype": "float32",
                  "layout": metadata.input_layout, "preprocessing": metadata.preprocessing},
        "output": {"name": output_name, "shape": metadata.output_shape, "kind": spec.outputs},
        "metric": {"name": metadata.metric_name, "value": metadata.metric_value, "test_samples": n_test},
        "validation": validation,
        "test_data_set": {"folder": TEST_DATA_SET, "test_indices": indices,
                          "files": {str(p.relative_to(folder)): file_facts(p) for p in vectors}},
        **({"end_to_end": write_end_to_end(end_to_end, indices, folder)} if end_to_end else {}),
        "exported_with": metadata.exported_with, "conversion": conversion, "created": metadata.created,
    }


def _convert(model: keras.Model, input_name: str, output_name: str, input_shape: tuple[int, ...],
             spec: ModelSpec) -> tuple[onnx.ModelProto, dict[str, str]]:
    """The model as ONNX, converted in this process under TensorFlow, else in a TensorFlow child process;
    and, for the report, the backend whose outputs it is validated against and where it was converted."""
    backend = environment.backend()
    if backend == "tensorflow":
        proto = convert_to_onnx(model, input_name, output_name, input_shape)
        where = "this process"
    else:
        # tf2onnx converts TensorFlow graphs only; validation below still compares with this backend's outputs.
        proto = convert_in_tensorflow(model, input_name, output_name, input_shape, OPSET, spec.name,
                                      spec.custom_objects is not None)
        where = "a TensorFlow child process (zoo.exports.convert_child)"
    return proto, {"keras_backend": backend, "converted_backend": "tensorflow", "converted_in": where}


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
