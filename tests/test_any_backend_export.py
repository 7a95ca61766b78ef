"""A model trained under JAX (or PyTorch) exports and validates as one trained under TensorFlow.

The conversion runs in a TensorFlow child process (zoo.exports.convert_child); validation compares
onnxruntime with the outputs the training backend computed.
"""

import dataclasses
import importlib.util
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import onnxruntime as ort
import pytest

import zoo.environment
import zoo.run
from zoo.exports.convert import unavailable_reason
from zoo.exports.convert_child import main as convert_child_main
from zoo.exports.export import read_tensor
from zoo.exports.manifest import read_manifest
from zoo.run import RunOptions, run_model

needs_jax = pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="the jax Keras backend is not installed")

# Loads model.keras under the backend in KERAS_BACKEND and saves its outputs on a test vector's input.
PREDICT = textwrap.dedent("""
    import sys, keras, numpy as np
    from zoo.exports.export import read_tensor
    model = keras.saving.load_model(sys.argv[1], safe_mode=True, compile=False)
    assert keras.backend.backend() == sys.argv[4], keras.backend.backend()
    x = read_tensor(sys.argv[2])
    np.save(sys.argv[3], keras.ops.convert_to_numpy(model(x, training=False)))
""")


def _ort(path, *inputs):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(None, {i.name: x for i, x in zip(session.get_inputs(), inputs)})


def _predict_under(backend, folder, tmp_path):
    out = tmp_path / f"{backend}.npy"
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    done = subprocess.run([sys.executable, "-c", PREDICT, str(folder / "model.keras"),
                           str(folder / "test_data_set_0" / "input_0.pb"), str(out), backend],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(out)


@needs_jax
def test_a_model_trained_under_jax_exports_and_validates_as_under_tensorflow(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    trained = subprocess.run([sys.executable, "-m", "zoo", "run", "iris_mlp", "--epochs", "1", "--out",
                              str(tmp_path)], capture_output=True, text=True, env=env, timeout=600)
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert "skipped" not in trained.stderr
    folder = tmp_path / "iris_mlp"
    report = json.loads((folder / "report.json").read_text())
    facts = report["onnx"]
    assert report["environment"]["backend"] == "jax"
    assert facts["conversion"]["trained_backend"] == facts["conversion"]["keras_backend"] == "jax"
    assert facts["conversion"]["converted_backend"] == "tensorflow"
    assert "child process" in facts["conversion"]["converted_in"]
    validation = facts["validation"]
    assert validation["class_mismatches"] == 0 and validation["max_scaled_diff"] <= validation["tolerance"]
    assert facts["end_to_end"]["validation"]["samples"] == validation["samples"] == 38
    assert read_manifest(tmp_path)["entries"]["iris_mlp"]["validation"]["class_mismatches"] == 0

    # The test vectors hold JAX's outputs, and plain onnxruntime reproduces them from both files.
    x = read_tensor(folder / "test_data_set_0" / "input_0.pb")
    expected = read_tensor(folder / "test_data_set_0" / "output_0.pb")
    jax_outputs = _predict_under("jax", folder, tmp_path)
    np.testing.assert_allclose(expected, jax_outputs, atol=1e-6)
    np.testing.assert_allclose(_ort(folder / "model.onnx", x)[0], jax_outputs, atol=1e-4)
    vectors = folder / "end_to_end" / "test_data_set_0"
    raw = read_tensor(vectors / "input_0.pb")
    probabilities, classes = _ort(folder / "end_to_end" / "model.onnx", raw)
    np.testing.assert_allclose(probabilities, read_tensor(vectors / "output_0.pb"), atol=1e-4)
    np.testing.assert_allclose(probabilities, jax_outputs, atol=1e-4)
    assert (classes == jax_outputs.argmax(axis=1)).all()

    # model.keras loads under TensorFlow and gives the same outputs (here, when this process runs TensorFlow).
    import keras

    if keras.backend.backend() == "tensorflow":
        model = keras.saving.load_model(folder / "model.keras", safe_mode=True, compile=False)
        under_tensorflow = keras.ops.convert_to_numpy(model(x, training=False))
    else:
        under_tensorflow = _predict_under("tensorflow", folder, tmp_path)
    np.testing.assert_allclose(under_tensorflow, jax_outputs, atol=1e-5)


def test_a_mismatch_with_the_training_backends_outputs_fails_the_export_and_keeps_the_model(tmp_path, monkeypatch):
    """The child-converted file is checked against what the training process computed: off by 0.5, it fails."""
    monkeypatch.setattr(zoo.environment, "backend", lambda: "jax")  # take the child-process path from here
    real = zoo.run.export_request

    def off(result):
        request = real(result)
        return dataclasses.replace(request, expected=request.expected + 0.5)

    monkeypatch.setattr(zoo.run, "export_request", off)
    run = run_model("iris_mlp", RunOptions(epochs=1, out=tmp_path, verbose=0))
    folder = tmp_path / "iris_mlp"
    assert run.report["onnx"]["failed"].startswith("ONNX export failed validation")
    assert run.report["onnx"]["retry_can_help"] is True
    assert (folder / "model.keras").is_file() and not (folder / "model.onnx").exists()
    assert not (folder / "end_to_end").exists() and not (folder / "test_data_set_0").exists()
    assert "iris_mlp" not in ((read_manifest(tmp_path) or {}).get("entries") or {})


def test_the_child_says_in_one_line_why_it_could_not_convert(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"not a model")
    (tmp_path / "request.json").write_text(json.dumps({"input_name": "x", "output_name": "y", "input_shape": [1],
                                                       "opset": 15, "entry": None, "custom_objects": False}))
    assert convert_child_main([str(tmp_path)]) == 1
    error = json.loads((tmp_path / "error.json").read_text())
    assert "could not be loaded under TensorFlow" in error["error"] and "\n" not in error["error"]
    assert error["unconvertible"] is False and not (tmp_path / "model.onnx").exists()


def test_without_tensorflow_the_export_is_skipped_with_what_to_install(monkeypatch):
    found = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "tensorflow" else found(name, *a))
    reason = unavailable_reason("iris_mlp")
    assert reason.startswith("ONNX export skipped") and "pip install tensorflow" in reason and "\n" not in reason
    assert "zoo export iris_mlp" in reason
    monkeypatch.setattr(importlib.util, "find_spec", found)
    assert unavailable_reason("iris_mlp") is None


# --- the conversion child started before training (zoo.exports.convert_child.prestart_converter) ---

needs_proc = pytest.mark.skipif(not os.path.exists("/proc/self/stat"), reason="reads process states from /proc")


@pytest.fixture
def converter():
    """zoo.exports.convert_child, with no waiting child left behind by the test."""
    import zoo.exports.convert_child as convert_child

    yield convert_child
    convert_child.close_converter()


def _tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, activation="relu"),
                             keras.layers.Dense(3, activation="softmax")])


def test_a_prestarted_child_converts_exactly_as_a_child_started_for_the_conversion(converter, monkeypatch):
    from zoo.exports.convert import OPSET

    model = _tiny_model()
    cold = converter.convert_in_tensorflow(model, "features", "probabilities", (4,), OPSET)
    converter.prestart_converter()
    waiting = converter._state["waiting"]
    converter.prestart_converter()  # idempotent: still the one child
    assert converter._state["waiting"] is waiting and waiting.process.poll() is None
    real, started = converter._start_child, []
    monkeypatch.setattr(converter, "_start_child", lambda: started.append(1) or real())
    warm = converter.convert_in_tensorflow(model, "features", "probabilities", (4,), OPSET)
    assert started == [] and converter._state["waiting"] is None  # the waiting child converted, and is used up
    assert waiting.process.poll() == 0
    assert warm.SerializeToString() == cold.SerializeToString()
    x = np.random.default_rng(0).random((5, 4), dtype=np.float32)
    session = ort.InferenceSession(warm.SerializeToString(), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {"features": x})[0], keras_outputs(model, x), atol=1e-5)


def keras_outputs(model, x):
    import keras

    return keras.ops.convert_to_numpy(model(x, training=False))


def test_a_prestarted_child_that_runs_too_long_is_stopped_with_one_line(converter, monkeypatch):
    from zoo.errors import ExportError

    converter.prestart_converter()
    waiting = converter._state["waiting"]
    monkeypatch.setattr(converter, "TIMEOUT_S", 0.01)  # it is still importing TensorFlow
    with pytest.raises(ExportError, match=r"took over 0.01 s and was stopped; nothing was written$"):
        converter.convert_in_tensorflow(_tiny_model(), "features", "probabilities", (4,), 15)
    assert waiting.process.poll() is not None and converter._state["waiting"] is None


def test_a_prestarted_child_left_unused_by_a_failing_run_is_stopped(converter):
    with pytest.raises(RuntimeError), converter.converter_prestarted(True):
        waiting = converter._state["waiting"]
        raise RuntimeError("training failed")
    assert waiting.process.poll() is not None and converter._state["waiting"] is None
    with converter.converter_prestarted(False):
        assert converter._state["waiting"] is None


# Prestarts a conversion child, prints its pid, and ends as argv[1] says; interrupted, it says whether the child
# (which got the same SIGINT) is still there to be stopped by this process's exit.
PRESTARTING_PARENT = textwrap.dedent("""
    import sys, time
    from zoo.exports import convert_child
    convert_child.prestart_converter()
    child = convert_child._state["waiting"].process
    print(child.pid, flush=True)
    if sys.argv[1] == "exit":
        sys.exit(0)
    try:
        time.sleep(120)
    except KeyboardInterrupt:
        time.sleep(0.5)
        print("child alive after SIGINT:", child.poll() is None, flush=True)
""")


def _running(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its new parent to reap it does not)."""
    try:
        stat = open(f"/proc/{pid}/stat").read()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _gone_soon(pid: int, seconds: float = 20) -> bool:
    import time

    deadline = time.monotonic() + seconds
    while _running(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


@needs_proc
@pytest.mark.parametrize("ending", ["exit", "killed", "interrupted"])
def test_a_prestarted_child_never_outlives_its_parent(ending):
    import signal
    import time

    parent = subprocess.Popen([sys.executable, "-c", PRESTARTING_PARENT, ending], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, start_new_session=True)  # a group of its own
    try:
        child = int(parent.stdout.readline())
        if ending == "killed":  # no atexit: the child's standard input closing stops it
            parent.kill()
        elif ending == "interrupted":  # Ctrl-C at a terminal: SIGINT to the whole process group
            time.sleep(2)  # the child is past its start-up, ignoring SIGINT
            os.killpg(parent.pid, signal.SIGINT)
        out, err = parent.communicate(timeout=60)
    finally:
        if parent.poll() is None:
            parent.kill()
    assert _gone_soon(child), f"the conversion child {child} outlived its parent ({ending})"
    assert "Traceback" not in err, err
    if ending == "interrupted":
        assert "child alive after SIGINT: True" in out, out + err


def test_no_export_starts_no_conversion_child(converter, monkeypatch, tmp_path, registry):
    monkeypatch.setattr(zoo.environment, "backend", lambda: "jax")  # where a conversion would run in a child
    spec = registry.model("iris_mlp")
    assert zoo.run._converts_in_child(spec, RunOptions(), chief=True)
    assert not zoo.run._converts_in_child(spec, RunOptions(export=False), chief=True)
    assert not zoo.run._converts_in_child(spec, RunOptions(), chief=False)  # a worker of a multi-worker run
    started = []
    monkeypatch.setattr(converter, "_start_child", lambda: started.append(1))
    run = run_model("iris_mlp", RunOptions(epochs=1, out=tmp_path, verbose=0, export=False))
    assert run.report["onnx"] == {"skipped": "zoo run --no-export"} and started == []
    monkeypatch.setattr(zoo.environment, "backend", lambda: "tensorflow")
    assert not zoo.run._converts_in_child(spec, RunOptions(), chief=True)  # converted in-process
