"""Convert a model trained under JAX or PyTorch to ONNX in a TensorFlow child process.

tf2onnx converts TensorFlow graphs only, and Keras fixes its backend per process when it is
imported, so a model trained under another backend is saved (``model.keras``, which every
backend loads) into a temporary folder with a small JSON request, and
``python -m zoo.exports.convert_child FOLDER`` loads it under ``KERAS_BACKEND=tensorflow`` and
converts it with ``zoo.exports.convert.convert_to_onnx``: the same conversion as in a TensorFlow run.

Only the conversion happens in the child. Validation stays with the caller
(``zoo.exports.export.export_onnx``), against the outputs the *training* backend computed, so a
difference between backends fails the export exactly as any other mismatch does.

The parent side imports neither TensorFlow nor Keras: the model is handed in already built.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo.errors import ExportError

if TYPE_CHECKING:
    import keras
    import onnx

MODEL_FILE = "model.keras"
REQUEST_FILE = "request.json"
RESULT_FILE = "model.onnx"
ERROR_FILE = "error.json"
# A conversion of the zoo's largest CNN takes seconds; this only stops a hung child.
TIMEOUT_S = 900


def convert_in_tensorflow(model: keras.Model, input_name: str, output_name: str, input_shape: tuple[int, ...],
                          opset: int, entry: str | None = None, custom_objects: bool = False) -> onnx.ModelProto:
    """``model`` (of any backend) converted as ``convert.convert_to_onnx`` does, in a TensorFlow child process.

    ``entry`` names the zoo entry whose spec supplies the custom objects the child needs to load the
    model, when ``custom_objects`` says it has any. Raises ExportError in one line on any failure
    (``convert.UnconvertibleModelError`` when the model uses an op tf2onnx cannot convert, as in-process).
    """
    import onnx

    from zoo.exports.convert import UnconvertibleModelError

    with tempfile.TemporaryDirectory(prefix="zoo-convert-") as tmp:
        folder = Path(tmp)
        model.save(folder / MODEL_FILE)
        (folder / REQUEST_FILE).write_text(json.dumps({
            "input_name": input_name, "output_name": output_name, "input_shape": list(map(int, input_shape)),
            "opset": opset, "entry": entry, "custom_objects": bool(custom_objects)}))
        try:
            child = subprocess.run([sys.executable, "-m", "zoo.exports.convert_child", str(folder)],
                                   capture_output=True, text=True, env=child_env(), timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise ExportError(f"the ONNX conversion under TensorFlow took over {TIMEOUT_S} s and was stopped; "
                              "nothing was written") from exc
        error = folder / ERROR_FILE
        if error.is_file():
            found = json.loads(error.read_text())
            kind = UnconvertibleModelError if found.get("unconvertible") else ExportError
            raise kind(found["error"])
        result = folder / RESULT_FILE
        if child.returncode != 0 or not result.is_file():
            lines = [line for line in child.stderr.splitlines() if line.strip()]
            raise ExportError(f"the ONNX conversion under TensorFlow failed (exit code {child.returncode}: "
                              f"{lines[-1] if lines else 'no message'}); nothing was written")
        return onnx.load_model_from_string(result.read_bytes())


def child_env() -> dict[str, str]:
    """The child's environment: the TensorFlow backend, quiet, on the CPU, finding this very zoo."""
    env = {**os.environ, "KERAS_BACKEND": "tensorflow"}
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # Converting needs no accelerator, and the training process (JAX preallocates) may hold the GPU's memory.
    env["CUDA_VISIBLE_DEVICES"] = ""
    # The zoo this process runs, even when it runs from a checkout that is not installed.
    source = str(Path(__file__).resolve().parent.parent.parent)
    env["PYTHONPATH"] = os.pathsep.join([source, *filter(None, [env.get("PYTHONPATH")])])
    return env


def _convert(folder: Path) -> None:
    """The child's work: load ``folder``'s model under TensorFlow, convert it, write ``model.onnx``."""
    import keras

    from zoo.exports.convert import convert_to_onnx

    if keras.backend.backend() != "tensorflow":
        raise ExportError(f"the conversion child runs under {keras.backend.backend()}, not TensorFlow; "
                          "KERAS_BACKEND=tensorflow is needed")
    request = json.loads((folder / REQUEST_FILE).read_text())
    model = keras.saving.load_model(folder / MODEL_FILE, safe_mode=True, compile=False,
                                    custom_objects=_custom_objects(request))
    proto = convert_to_onnx(model, request["input_name"], request["output_name"], tuple(request["input_shape"]),
                            opset=request["opset"])
    (folder / RESULT_FILE).write_bytes(proto.SerializeToString())


def _custom_objects(request: dict[str, Any]) -> dict[str, Any] | None:
    """The entry's custom objects, read from its plugin's spec (only loaded when the entry declares some)."""
    if not request.get("custom_objects") or not request.get("entry"):
        return None
    from zoo.plugins import load_registry

    return dict(load_registry().model(request["entry"]).custom_objects())


def main(argv: list[str] | None = None) -> int:
    """``python -m zoo.exports.convert_child FOLDER``: convert, or write ``error.json`` saying why not."""
    from zoo.errors import first_line
    from zoo.exports.convert import UnconvertibleModelError

    folder = Path((argv if argv is not None else sys.argv[1:])[0])
    try:
        _convert(folder)
    except ExportError as exc:
        error = {"error": str(exc), "unconvertible": isinstance(exc, UnconvertibleModelError)}
    except Exception as exc:  # loading a model and converting it raise many kinds; the parent wants one line
        error = {"error": f"the model could not be loaded under TensorFlow for conversion ({first_line(exc, 300)}); "
                          "nothing was written", "unconvertible": False}
    else:
        return 0
    (folder / ERROR_FILE).write_text(json.dumps(error))
    return 1


if __name__ == "__main__":
    sys.exit(main())
