"""Convert a model trained under JAX or PyTorch to ONNX in a TensorFlow child process.

tf2onnx converts TensorFlow graphs only, and Keras fixes its backend per process when it is
imported, so a model trained under another backend is saved (``model.keras``, which every
backend loads) into a temporary folder with a small JSON request, and
``python -m zoo.exports.convert_child FOLDER`` loads it under ``KERAS_BACKEND=tensorflow`` and
converts it with ``zoo.exports.convert.convert_to_onnx``: the same conversion as in a TensorFlow run.

Importing TensorFlow and tf2onnx takes the child seconds, so ``zoo run`` starts it early
(``prestart_converter``, before training): ``python -m zoo.exports.convert_child --wait`` imports
them, then waits for one line on its standard input, the request's folder, converts it and exits.
``convert_in_tensorflow`` hands its request to that waiting child when there is one, else starts one
there and then. The waiting child never outlives this process: it is stopped at exit (``atexit``;
``close_converter`` stops it sooner), and its standard input closing (this process exiting, however)
makes it exit at once, even mid-import. It ignores SIGINT, so a Ctrl-C at the terminal stops zoo, which
stops the child, and its output goes to a temporary file, never to the terminal.

Only the conversion happens in the child. Validation stays with the caller
(``zoo.exports.export.export_onnx``), against the outputs the *training* backend computed, so a
difference between backends fails the export exactly as any other mismatch does.

The parent side imports neither TensorFlow nor Keras: the model is handed in already built.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from zoo.errors import ExportError
from zoo.lazy_tensorflow import tensorflow_unimported

if TYPE_CHECKING:
    import keras
    import onnx

MODEL_FILE = "model.keras"
REQUEST_FILE = "request.json"
RESULT_FILE = "model.onnx"
ERROR_FILE = "error.json"
WAIT_FLAG = "--wait"
# A conversion of the zoo's largest CNN takes seconds; this only stops a hung child.
TIMEOUT_S = 900
# How long a waiting child, its standard input closed, gets to exit before it is killed (it exits in milliseconds).
STOP_WAIT_S = 5


@dataclass
class _Child:
    """A conversion child started with ``--wait``, and the temporary file its stdout and stderr go to."""

    process: subprocess.Popen
    log: IO[bytes]


_lock = threading.Lock()
_state: dict[str, Any] = {"waiting": None, "atexit": False}


def prestart_converter() -> None:
    """Start a conversion child now, to import TensorFlow and tf2onnx while this process trains.

    At most one waits per process: a call while one waits does nothing. The next ``convert_in_tensorflow``
    uses it up; ``close_converter`` (or this process's exit) stops it unused. A child that cannot be started
    is not an error here: the conversion starts its own, and reports why that failed.
    """
    with _lock:
        waiting = _state["waiting"]
        if waiting is not None and waiting.process.poll() is None:
            return
        _state["waiting"] = None
        if not _state["atexit"]:
            atexit.register(close_converter)
            _state["atexit"] = True
        with contextlib.suppress(OSError):
            _state["waiting"] = _start_child()
    if waiting is not None:
        _stop(waiting)  # it exited before it was used (killed, say): a fresh one replaces it


def close_converter() -> None:
    """Stop the waiting conversion child, if any (it exits when its standard input closes; killed if it lingers)."""
    with _lock:
        waiting, _state["waiting"] = _state["waiting"], None
    if waiting is not None:
        _stop(waiting)


@contextlib.contextmanager
def converter_prestarted(wanted: bool) -> Iterator[None]:
    """Within this block a conversion child waits (when ``wanted``); one left unused is stopped when it ends,
    the block failing or interrupted included, so the next entry of a ``zoo run`` starts afresh."""
    if wanted:
        prestart_converter()
    try:
        yield
    finally:
        if wanted:
            close_converter()


def convert_in_tensorflow(model: keras.Model, input_name: str, output_name: str, input_shape: tuple[int, ...],
                          opset: int, entry: str | None = None, custom_objects: bool = False) -> onnx.ModelProto:
    """``model`` (of any backend) converted as ``convert.convert_to_onnx`` does, in a TensorFlow child process:
    the waiting one ``prestart_converter`` started, else one started now.

    ``entry`` names the zoo entry whose spec supplies the custom objects the child needs to load the
    model, when ``custom_objects`` says it has any. Raises ExportError in one line on any failure
    (``convert.UnconvertibleModelError`` when the model uses an op tf2onnx cannot convert, as in-process).
    """
    import onnx

    from zoo.exports.convert import UnconvertibleModelError

    with tempfile.TemporaryDirectory(prefix="zoo-convert-") as tmp:
        folder = Path(tmp)
        with tensorflow_unimported():  # this process needs no TensorFlow to save it; the child imports it
            model.save(folder / MODEL_FILE)
        (folder / REQUEST_FILE).write_text(json.dumps({
            "input_name": input_name, "output_name": output_name, "input_shape": list(map(int, input_shape)),
            "opset": opset, "entry": entry, "custom_objects": bool(custom_objects)}))
        returncode, output = _convert_in_child(folder)
        error = folder / ERROR_FILE
        if error.is_file():
            found = json.loads(error.read_text())
            kind = UnconvertibleModelError if found.get("unconvertible") else ExportError
            raise kind(found["error"])
        result = folder / RESULT_FILE
        if returncode != 0 or not result.is_file():
            lines = [line for line in output.splitlines() if line.strip()]
            raise ExportError(f"the ONNX conversion under TensorFlow failed (exit code {returncode}: "
                              f"{lines[-1] if lines else 'no message'}); nothing was written")
        return onnx.load_model_from_string(result.read_bytes())


def _convert_in_child(folder: Path) -> tuple[int, str]:
    """Have a child (the waiting one, else a new one) convert ``folder``'s request; its exit code and output."""
    child = _take_waiting()
    if child is None:
        try:
            child = _start_child()
        except OSError as exc:
            raise ExportError(f"the ONNX conversion under TensorFlow could not start a child process "
                              f"({exc.strerror or exc}); nothing was written") from exc
    try:
        try:
            child.process.stdin.write(f"{folder}\n".encode())
            child.process.stdin.close()
        except OSError:
            pass  # it died before reading its request: its exit code and output say why
        try:
            returncode = child.process.wait(timeout=TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            raise ExportError(f"the ONNX conversion under TensorFlow took over {TIMEOUT_S} s and was stopped; "
                              "nothing was written") from exc
        child.log.seek(0)
        return returncode, child.log.read().decode(errors="replace")
    finally:
        _kill(child)  # timed out, or this process interrupted: the child goes too


def _take_waiting() -> _Child | None:
    """The waiting child, now this caller's, if there is one still alive."""
    with _lock:
        waiting, _state["waiting"] = _state["waiting"], None
    if waiting is not None and waiting.process.poll() is not None:
        _stop(waiting)
        return None
    return waiting


def _start_child() -> _Child:
    """A child started with ``--wait``: it imports TensorFlow and tf2onnx, then waits for a request folder."""
    log = tempfile.TemporaryFile(prefix="zoo-convert-")
    try:
        process = subprocess.Popen([sys.executable, "-m", "zoo.exports.convert_child", WAIT_FLAG],
                                   stdin=subprocess.PIPE, stdout=log, stderr=subprocess.STDOUT, env=child_env())
    except BaseException:
        log.close()
        raise
    return _Child(process, log)


def _stop(child: _Child) -> None:
    """Close a child's standard input, which ends a waiting child; kill it if it has not exited soon after."""
    with contextlib.suppress(OSError):
        child.process.stdin.close()
    with contextlib.suppress(subprocess.TimeoutExpired):
        child.process.wait(timeout=STOP_WAIT_S)
    _kill(child)


def _kill(child: _Child) -> None:
    """Kill ``child`` if it still runs, reap it, and drop its output."""
    if child.process.poll() is None:
        child.process.kill()
        child.process.wait()
    with contextlib.suppress(OSError):
        child.process.stdin.close()
    child.log.close()


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
    """``python -m zoo.exports.convert_child FOLDER``: convert, or write ``error.json`` saying why not.

    ``python -m zoo.exports.convert_child --wait``: import what converting needs first, then read FOLDER
    from the standard input (``wait_for_request``).
    """
    from zoo.errors import first_line
    from zoo.exports.convert import UnconvertibleModelError

    args = argv if argv is not None else sys.argv[1:]
    if args == [WAIT_FLAG]:
        return wait_for_request()
    folder = Path(args[0])
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


def wait_for_request() -> int:
    """The ``--wait`` child: import Keras (TensorFlow backend), tf2onnx and the converter while the parent trains,
    then convert the one folder named on the standard input; exit at once, quietly, if it closes without one."""
    # The parent owns this process's life: a Ctrl-C at the terminal reaches the whole process group, and the
    # parent, interrupted, closes or kills this child; a KeyboardInterrupt here would only print a traceback.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    request: queue.Queue[str] = queue.Queue(maxsize=1)
    # Read on a thread, so the standard input closing ends the process even in the middle of importing TensorFlow.
    threading.Thread(target=_read_request, args=(request,), name="zoo-convert-request", daemon=True).start()
    with contextlib.suppress(Exception):
        _import_converter()  # an import that fails here fails again in _convert, which reports it in error.json
    return main([request.get()])


def _read_request(request: queue.Queue[str]) -> None:
    """Put the folder named on the standard input's first line into ``request``; end the process on EOF."""
    line = sys.stdin.readline()
    if not line.strip():
        os._exit(0)  # the parent exited, or needs no conversion: nothing to clean up, nothing to say
    request.put(line.rstrip("\n"))


def _import_converter() -> None:
    """Import what ``_convert`` uses, so its request finds them loaded."""
    import importlib

    # keras imports TensorFlow itself (KERAS_BACKEND=tensorflow); the last is Keras' numpy-2 patch of tf2onnx.
    for name in ("keras", "tf2onnx", "zoo.exports.convert", "keras.src.export.tf2onnx_lib"):
        importlib.import_module(name)


def exit_now(code: int) -> None:
    """End the child process with ``code`` at once, its files written and closed: the interpreter's teardown with
    TensorFlow loaded takes a second or more, which the parent would spend waiting."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    exit_now(main())
