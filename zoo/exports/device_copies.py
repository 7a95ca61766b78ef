"""Device-sized copies beside an export's ``model.onnx``: batch-1 ONNX and ORT files for phones, and int8.

``export_device_copies`` runs after the float export passed its validation, in the same (staging)
folder, and writes:

- ``batch1/model.onnx``: the float model with its batch fixed to 1 (``zoo.exports.mobile.fixed_batch``), and
  ``batch1/model.ort``, the same converted to ORT format, the format of onnxruntime's reduced-size
  mobile and web builds; beside them ``test_data_set_K/``, one per test vector (one sample each, the batch
  being 1), with Keras' outputs. Each is validated as ``model.onnx`` was: onnxruntime, one sample per run,
  against the Keras outputs on every test sample and on ``test_data_set_0``, with zoo.exports.export's rule
  (|difference| <= 1e-4 × max(1, the sample's largest |output|), and the same class). The mobile
  checker's verdicts for the fixed copy and for the dynamic original are recorded.
- ``int8/model.onnx``: quantized by onnxruntime (``zoo.exports.quantize``), held to a looser, stated
  rule: its accuracy (R² for regression) on the full test split within 0.3 points (0.003) of float,
  and the same class as ``output_0.pb`` on every test vector; top-1 agreement with float, sizes, and
  samples/s of both at batch 1 and 256 are recorded. An int8 file no smaller than the float one is
  not written (``"skipped"`` says so): there is nothing for it to win. Beside it ``test_data_set_0/`` holds
  the float test vectors' inputs and the *int8 model's own* outputs on them (it is held to the looser rule,
  so Keras' outputs would not replay at the float tolerance).

Everything is converted and validated before anything is written; a failure raises ExportError
and writes nothing.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import files
from zoo.errors import ExportError
from zoo.exports.compare import compare_outputs
from zoo.exports.device_summary import B1_FOLDER, B1_ONNX, B1_ORT, INT8_FOLDER, INT8_ONNX
from zoo.exports.export import TEST_DATA_SET, read_tensor
from zoo.exports.manifest import file_facts
from zoo.exports.runtime import open_session, run_onnx
from zoo.exports.mobile import ORT_OPTIMIZATION_STYLE, fixed_batch, mobile_usability, ort_format_bytes
from zoo.exports.quantize import Mode, check_int8, choose_mode, quantize_int8, size_and_speed

if TYPE_CHECKING:
    import onnx



def export_device_copies(float_model: onnx.ModelProto, folder: str | Path, x_test: np.ndarray, truth: np.ndarray,
                         expected_outputs: np.ndarray, output_kind: str, calibration: np.ndarray | None, *,
                         mobile: bool, int8: bool, int8_mode: Mode | None = None,
                         timing_seconds: float = 1.0) -> dict[str, Any]:
    """Validate and write the mobile and/or int8 copies of ``float_model`` into ``folder``; their facts.

    ``x_test`` is the preprocessed test split, ``truth`` its classes (or target values),
    ``expected_outputs`` the Keras model's outputs on it, ``calibration`` training inputs for
    static int8 (``zoo.exports.quantize.calibration_sample``). ``folder`` must already hold the float
    export's ``test_data_set_0``. ``int8_mode`` overrides ``zoo.exports.quantize.choose_mode``.
    Returns ``{"mobile": {...}, "int8": {...}, "files": [model files written], "vector_files": [their test
    vectors]}`` (paths relative to ``folder``), "mobile" and "int8" only when asked for;
    ``zoo.exports.device_summary`` condenses them for the manifest and report.md.
    """
    folder = Path(folder)
    x_test = np.asarray(x_test, np.float32)
    vectors = _test_vectors(folder)
    float_bytes = float_model.SerializeToString()
    pending: dict[str, bytes] = {}
    facts: dict[str, Any] = {}
    if mobile:
        facts["mobile"] = _mobile_copies(float_model, x_test, expected_outputs, output_kind, vectors, pending)
    if int8:
        facts["int8"] = _int8_copy(float_model, float_bytes, x_test, truth, expected_outputs, output_kind,
                                   calibration, vectors, int8_mode, timing_seconds, pending)
    models = [name for name in pending if not name.endswith(".pb")]
    for copy_folder in {name.split("/")[0] for name in pending}:  # no test_data_set_* of an earlier export lingers
        shutil.rmtree(folder / copy_folder, ignore_errors=True)
    for name, data in pending.items():
        files.write_bytes(folder / name, data)
    if "mobile" in facts:
        facts["mobile"]["files"] = {name: file_facts(folder / name) for name in (B1_ONNX, B1_ORT)}
        facts["mobile"]["test_data_sets"] = _vector_facts(folder, B1_FOLDER, pending)
    if INT8_ONNX in pending:
        facts["int8"].update(file_facts(folder / INT8_ONNX))
        facts["int8"]["test_data_sets"] = _vector_facts(folder, INT8_FOLDER, pending)
    facts["files"] = models
    facts["vector_files"] = [name for name in pending if name.endswith(".pb")]
    return facts


def _vector_facts(folder: Path, copy_folder: str, pending: dict[str, bytes]) -> dict[str, Any]:
    """sha256 and size of the test vectors written beside one copy."""
    return {name: file_facts(folder / name) for name in pending
            if name.endswith(".pb") and name.startswith(f"{copy_folder}/")}


def vector_files(copy_folder: str, inputs: np.ndarray, outputs: np.ndarray, input_name: str, output_name: str,
                 per_sample: bool) -> dict[str, bytes]:
    """Test vectors for the copy in ``copy_folder``: ``test_data_set_0`` with every sample, or (``per_sample``,
    for a batch-1 copy) ``test_data_set_K`` with sample K alone; name -> TensorProto bytes."""
    from onnx import numpy_helper

    sets = [(k, slice(k, k + 1)) for k in range(len(inputs))] if per_sample else [(0, slice(None))]
    vectors = {}
    for k, rows in sets:
        for kind, array, name in (("input", inputs, input_name), ("output", outputs, output_name)):
            tensor = numpy_helper.from_array(np.ascontiguousarray(array[rows]), name=name)
            vectors[f"{copy_folder}/test_data_set_{k}/{kind}_0.pb"] = tensor.SerializeToString()
    return vectors


def _io_names(model: onnx.ModelProto) -> tuple[str, str]:
    return model.graph.input[0].name, model.graph.output[0].name


def _test_vectors(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    inputs, outputs = folder / TEST_DATA_SET / "input_0.pb", folder / TEST_DATA_SET / "output_0.pb"
    if not (inputs.is_file() and outputs.is_file()):
        raise ExportError(f"{folder / TEST_DATA_SET} has no input_0.pb and output_0.pb: the float export must be "
                          "written first")
    return read_tensor(inputs), read_tensor(outputs)


def _mobile_copies(float_model: onnx.ModelProto, x_test: np.ndarray, expected: np.ndarray, output_kind: str,
                   vectors: tuple[np.ndarray, np.ndarray], pending: dict[str, bytes]) -> dict[str, Any]:
    import onnx

    b1 = fixed_batch(float_model, 1)
    _check_model(b1, B1_ONNX)
    b1_bytes = b1.SerializeToString()
    with tempfile.TemporaryDirectory(prefix="zoo-b1-") as tmp:
        dynamic_path, b1_path = Path(tmp) / "dynamic" / "model.onnx", Path(tmp) / B1_ONNX
        dynamic_path.parent.mkdir()
        b1_path.parent.mkdir()
        onnx.save(float_model, str(dynamic_path))
        b1_path.write_bytes(b1_bytes)
        ort_bytes = ort_format_bytes(b1_path)
        usability_b1, usability_dynamic = mobile_usability(b1_path), mobile_usability(dynamic_path)
    validation = {name: validate_batch1(data, name, x_test, expected, output_kind, vectors)
                  for name, data in ((B1_ONNX, b1_bytes), (B1_ORT, ort_bytes))}
    pending.update({B1_ONNX: b1_bytes, B1_ORT: ort_bytes})
    pending.update(vector_files(B1_FOLDER, vectors[0], vectors[1], *_io_names(float_model), per_sample=True))
    return {
        "batch": 1,  # "files" (sha256 and bytes) is added once they are written
        "ort_format": {"converter": "onnxruntime.tools.convert_onnx_models_to_ort",
                       "optimization_style": ORT_OPTIMIZATION_STYLE},
        "validation": validation,
        "usability": usability_b1,
        "usability_dynamic_batch": {k: usability_dynamic[k] for k in ("verdicts", "usable", "dynamic_inputs")},
    }


def _check_model(model: onnx.ModelProto, name: str) -> None:
    import onnx

    try:
        onnx.checker.check_model(model, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"{name} fails onnx.checker: {str(exc).splitlines()[0]}; nothing was written") from exc


def validate_batch1(model_bytes: bytes, name: str, x_test: np.ndarray, expected: np.ndarray, output_kind: str,
                     vectors: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    """onnxruntime on ``model_bytes`` (ONNX or ORT format), one sample per run, against Keras' outputs."""
    try:
        session = open_session(model_bytes)
        split = run_onnx(session, x_test, batch=1)
        on_vectors = run_onnx(session, vectors[0], batch=1)
    except Exception as exc:  # onnxruntime's errors share no base class
        raise ExportError(f"onnxruntime cannot run {name} ({type(exc).__name__}: {str(exc)[:300]}); "
                          "nothing was written") from exc
    comparisons = {"test_split": compare_outputs(expected, split, output_kind),
                   "test_vectors": compare_outputs(vectors[1], on_vectors, output_kind)}
    for where, comparison in comparisons.items():
        if not comparison.passed:
            raise ExportError(f"{name} failed validation on the {where.replace('_', ' ')}: {comparison.summary()}; "
                              "nothing was written")
    return {where: asdict(c) for where, c in comparisons.items()}


def _int8_copy(float_model: onnx.ModelProto, float_bytes: bytes, x_test: np.ndarray, truth: np.ndarray,
               expected: np.ndarray, output_kind: str, calibration: np.ndarray | None,
               vectors: tuple[np.ndarray, np.ndarray], mode: Mode | None, timing_seconds: float,
               pending: dict[str, bytes]) -> dict[str, Any]:
    mode = mode or choose_mode(float_model)
    quantized = quantize_int8(float_model, calibration if mode == "static" else None, mode)
    _check_model(quantized, INT8_ONNX)
    int8_bytes = quantized.SerializeToString()
    if len(int8_bytes) >= len(float_bytes):
        return {"skipped": f"int8 ({mode}) would be {len(int8_bytes):,} bytes against float's {len(float_bytes):,}: "
                           "the quantization parameters outweigh the weights saved, so it was not written",
                "mode": mode}
    try:
        session = open_session(int8_bytes)
        split, on_vectors = run_onnx(session, x_test), run_onnx(session, vectors[0])
    except Exception as exc:  # onnxruntime's errors share no base class
        raise ExportError(f"onnxruntime cannot run {INT8_ONNX} ({type(exc).__name__}: {str(exc)[:300]}); "
                          "nothing was written") from exc
    task = "regression" if output_kind == "values" else "classification"
    check = check_int8(mode, split, expected, truth, task, on_vectors, vectors[1])
    if not check.passed:
        raise ExportError(f"{INT8_ONNX} failed validation: {check.summary()}; nothing was written")
    measured = size_and_speed(float_bytes, int8_bytes, x_test, seconds=timing_seconds)
    pending[INT8_ONNX] = int8_bytes
    pending.update(vector_files(INT8_FOLDER, vectors[0], on_vectors.astype(np.float32), *_io_names(float_model),
                                per_sample=False))
    return {"file": INT8_ONNX, "mode": mode,
            "quantization": {p.key: p.value for p in quantized.metadata_props}["quantization"],
            "validation": {**asdict(check), "passed": check.passed, "summary": check.summary()},
            **measured}
