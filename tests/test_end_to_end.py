"""end_to_end/model.onnx: raw samples in, probabilities and class (or y) out, beside every export's model.onnx.

The committed reference set is checked with onnx and onnxruntime alone (the checking code imports nothing of
zoo); the builder (zoo.exports.end_to_end) is checked on the committed model.onnx files, so no Keras is needed.
"""

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "reference"
ENTRIES = sorted(p.parent.name for p in REFERENCE.glob("*/model.onnx"))
ONNX_TYPES = {"tensor(uint8)": np.uint8, "tensor(float)": np.float32, "tensor(int64)": np.int64}


def read_pb(path: Path) -> tuple[str, np.ndarray]:
    tensor = onnx.TensorProto()
    tensor.ParseFromString(path.read_bytes())
    return tensor.name, numpy_helper.to_array(tensor)


def session(model) -> ort.InferenceSession:
    source = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(source, providers=["CPUExecutionProvider"])


def softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def props_of(model: onnx.ModelProto) -> dict[str, str]:
    return {p.key: p.value for p in model.metadata_props}


def preprocess(raw: np.ndarray, props: dict[str, str]) -> np.ndarray:
    """model.onnx's input from raw samples, as its metadata says (numpy alone, as an app would)."""
    x = raw.astype(np.float32) * np.asarray(json.loads(props["preprocess_scale"]), np.float32)
    x = x + np.asarray(json.loads(props["preprocess_offset"]), np.float32)
    return x.reshape((len(x), *json.loads(props["input_shape"])[1:]))


def test_every_reference_entry_ships_an_end_to_end_file():
    assert len(ENTRIES) == 10
    manifest = json.loads((REFERENCE / "manifest.json").read_text())
    for name in ENTRIES:
        folder = REFERENCE / name / "end_to_end"
        assert (folder / "model.onnx").is_file() and (folder / "test_data_set_0" / "input_0.pb").is_file(), name
        recorded = manifest["entries"][name]["files"]
        assert {f"{name}/end_to_end/model.onnx", f"{name}/end_to_end/test_data_set_0/input_0.pb"} <= set(recorded)


@pytest.mark.parametrize("name", ENTRIES)
def test_reference_end_to_end_replays_its_test_vectors(name):
    """The ONNX Model Zoo recipe on end_to_end/: raw inputs in, the recorded outputs out."""
    folder = REFERENCE / name / "end_to_end"
    float_model, model = onnx.load(str(REFERENCE / name / "model.onnx")), onnx.load(str(folder / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    float_props, props = props_of(float_model), props_of(model)
    assert props == {**float_props, "end_to_end": "true", "end_to_end_outputs": props["end_to_end_outputs"]}
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [15]

    sess = session(folder / "model.onnx")
    (graph_input,) = sess.get_inputs()
    assert graph_input.name == float_props["input_name"]
    assert ONNX_TYPES[graph_input.type] == np.dtype(float_props["raw_input_dtype"])
    assert graph_input.shape == ["batch", *json.loads(float_props["raw_input_shape"])]
    outputs = [o.name for o in sess.get_outputs()]
    assert outputs == json.loads(props["end_to_end_outputs"])
    assert outputs == (["probabilities", "class"] if float_props["task"] == "classification" else ["y"])

    input_name, raw = read_pb(folder / "test_data_set_0" / "input_0.pb")
    assert input_name == graph_input.name and raw.dtype == np.dtype(float_props["raw_input_dtype"])
    expected = [read_pb(p) for p in sorted((folder / "test_data_set_0").glob("output_*.pb"))]
    assert [n for n, _ in expected] == outputs
    actual = sess.run(None, {input_name: raw})
    for (output, want), got in zip(expected, actual):
        assert got.dtype == want.dtype and got.shape == want.shape, output
        np.testing.assert_allclose(got, want, rtol=0, atol=1e-4, err_msg=f"{name} {output}")
    if float_props["task"] == "classification":
        probabilities, classes = actual
        assert classes.dtype == np.int64 and (classes == probabilities.argmax(axis=1)).all()
        np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
        assert len(raw) == len(json.loads(float_props["class_names"]))  # one test sample of each class


@pytest.mark.parametrize("name", ["fashion_linear", "mnist_cnn_inverted", "iris_mlp", "fn_sin"])
def test_end_to_end_equals_model_onnx_on_preprocessed_raw_samples(name):
    """Raw uint8 pixels through end_to_end == softmax(model.onnx(float32(raw) * scale + offset)); the raw test
    vectors are the very samples of model.onnx's, preprocessed."""
    folder = REFERENCE / name
    props = props_of(onnx.load(str(folder / "model.onnx"), load_external_data=False))
    _, raw = read_pb(folder / "end_to_end" / "test_data_set_0" / "input_0.pb")
    _, x = read_pb(folder / "test_data_set_0" / "input_0.pb")
    np.testing.assert_array_equal(preprocess(raw, props), x)
    float_out = session(folder / "model.onnx").run(None, {props["input_name"]: x})[0]
    want = softmax(float_out) if props["output_kind"] == "logits" else float_out
    got = session(folder / "end_to_end" / "model.onnx").run(None, {props["input_name"]: raw})[0]
    np.testing.assert_allclose(got, want.reshape(len(x), -1), rtol=0, atol=1e-6)
    if name == "fashion_linear":
        assert props["output_kind"] == "logits" and raw.dtype == np.uint8 and not np.allclose(got, float_out)


def _wrong_by(outputs: np.ndarray) -> np.ndarray:
    return np.roll(outputs, 1, axis=0)  # every sample given another's outputs


@pytest.mark.parametrize("name", ["iris_mlp", "fn_sin"])
def test_a_failing_validation_writes_nothing(tmp_path, name):
    from zoo.errors import ExportError
    from zoo.exports.end_to_end import export_end_to_end

    proto = onnx.load(str(REFERENCE / name / "model.onnx"))
    props = props_of(proto)
    raw, outputs = _raw_split_and_outputs(name, props)
    with pytest.raises(ExportError, match=r"^end-to-end export failed validation: .*end_to_end/model.onnx was not "
                                          r"written$"):
        export_end_to_end(proto, raw, _wrong_by(outputs), [0, 1], tmp_path)
    assert list(tmp_path.iterdir()) == []
    facts = export_end_to_end(proto, raw, outputs, [0, 1], tmp_path)  # the right outputs pass
    assert facts["validation"]["samples"] == len(raw) and (tmp_path / facts["file"]).is_file()


def _raw_split_and_outputs(name: str, props: dict[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """The entry's raw test split and model.onnx's outputs on it (standing in for Keras')."""
    from zoo.datasets import load_dataset
    from zoo.plugins import load_registry

    registry = load_registry()
    raw = load_dataset(registry.dataset(registry.model(name).dataset), None).x_test
    outputs = session(REFERENCE / name / "model.onnx").run(None, {props["input_name"]: preprocess(raw, props)})[0]
    return raw, outputs


def test_per_feature_scale_and_offset_are_applied_along_the_last_axis(tmp_path):
    """Per-feature preprocessing (Preprocess.standardize): one scale and offset per raw column, as numpy
    broadcasts them; model.onnx's metadata is changed to say so, and its outputs on those inputs expected."""
    from zoo.exports.end_to_end import export_end_to_end

    proto = onnx.load(str(REFERENCE / "iris_mlp" / "model.onnx"))
    mean, std = np.array([5.8, 3.0, 3.8, 1.2]), np.array([0.83, 0.43, 1.76, 0.76])
    scale, offset = list(1.0 / std), list(-mean / std)
    onnx.helper.set_model_props(proto, {**props_of(proto), "preprocess_scale": json.dumps(scale),
                                        "preprocess_offset": json.dumps(offset)})
    props = props_of(proto)
    raw, outputs = _raw_split_and_outputs("iris_mlp", props)
    facts = export_end_to_end(proto, raw, outputs, [0, 1, 2], tmp_path)
    got = session(tmp_path / facts["file"]).run(None, {"features": raw[:5]})[0]
    np.testing.assert_allclose(got, outputs[:5], atol=1e-6)
    # The same file with the per-feature values swapped would disagree: the test can fail.
    swapped = session(REFERENCE / "iris_mlp" / "model.onnx").run(
        None, {"features": raw[:5] * np.float32(scale[::-1]) + np.float32(offset[::-1])})[0]
    assert not np.allclose(swapped, outputs[:5], atol=1e-3)
    assert facts["input"] == {"name": "features", "shape": [None, 4], "dtype": "float32"}


def test_logits_get_probabilities_and_regression_gets_y():
    from zoo.exports.end_to_end import end_to_end_model
    from zoo.exports.metadata import OnnxMetadata

    for name, ops, outputs in [("fashion_linear", {"Softmax", "ArgMax"}, ["probabilities", "class"]),
                               ("mnist_cnn", {"ArgMax"}, ["probabilities", "class"]), ("fn_square", set(), ["y"])]:
        proto = onnx.load(str(REFERENCE / name / "model.onnx"))
        model = end_to_end_model(proto, OnnxMetadata.from_props(props_of(proto)))
        added = {n.op_type for n in model.graph.node if n.name.startswith("zoo_end_to_end/")}
        assert added & {"Softmax", "ArgMax"} == ops and {"Cast", "Reshape"} <= added, name
        assert [o.name for o in model.graph.output] == outputs
        identity = json.loads(props_of(proto)["preprocess_scale"]) == 1 == 1 + json.loads(
            props_of(proto)["preprocess_offset"])
        assert ("Mul" in added) == (not identity) == (name == "mnist_cnn"), name  # the others take raw values


def test_zoo_predict_uses_the_end_to_end_file_and_falls_back_for_older_exports(tmp_path):
    from zoo.exports.manifest import read_manifest
    from zoo.exports.predict import PredictError, open_export
    from zoo.files import write_json

    out = shutil.copytree(REFERENCE, tmp_path / "reference", ignore=shutil.ignore_patterns("plots", "*.html"))
    _, raw = read_pb(out / "fashion_linear" / "end_to_end" / "test_data_set_0" / "input_0.pb")
    _, want = read_pb(out / "fashion_linear" / "end_to_end" / "test_data_set_0" / "output_0.pb")
    export = open_export("fashion_linear", out)
    assert export.end_to_end and export.path == out / "fashion_linear" / "end_to_end" / "model.onnx"
    # The vectors hold Keras' outputs; fashion_linear's logits come from raw 0-255 pixels, large enough that
    # float32 rounding in onnxruntime moves a probability by a few 1e-6.
    np.testing.assert_allclose(export.predict(raw), want, atol=2e-5)

    manifest = read_manifest(out)  # an export of an earlier zoo: the manifest knows model.onnx alone
    files = manifest["entries"]["fashion_linear"]["files"]
    manifest["entries"]["fashion_linear"]["files"] = {k: v for k, v in files.items() if "end_to_end" not in k}
    write_json(out / "manifest.json", manifest)
    older = open_export("fashion_linear", out)
    assert not older.end_to_end and older.path.name == "model.onnx"
    np.testing.assert_allclose(older.predict(raw), want, atol=1e-5)

    shutil.copy(out / "mnist_cnn" / "model.onnx", out / "mnist_cnn" / "end_to_end" / "model.onnx")
    with pytest.raises(PredictError, match=r"end_to_end/model.onnx: sha256 .* differs from"):
        open_export("mnist_cnn", out)


def test_docs_document_the_end_to_end_keys():
    from zoo.exports.metadata import END_TO_END_KEYS

    docs = (REPO / "docs" / "exports.md").read_text()
    for key, description in END_TO_END_KEYS.items():
        assert f"| `{key}` | {description} |" in docs, f"docs/exports.md's end-to-end table is out of date for {key}"


def test_zoo_checks_replay_of_a_shipped_set_covers_the_end_to_end_vectors(tmp_path):
    from zoo.checks import CheckFailed, _replay

    folder = shutil.copytree(REFERENCE / "iris_mlp", tmp_path / "iris_mlp", ignore=shutil.ignore_patterns("plots"))
    assert "test vectors replay" in _replay(folder, "iris_mlp")
    shutil.copy(REFERENCE / "fn_sin" / "end_to_end" / "model.onnx", folder / "end_to_end" / "model.onnx")
    with pytest.raises(CheckFailed, match="iris_mlp: the shipped end-to-end test vectors do not replay"):
        _replay(folder, "iris_mlp")


def test_zoo_export_whose_end_to_end_file_fails_validation_writes_nothing(trained_runs, tmp_path, monkeypatch,
                                                                          capsys):
    """model.onnx passes but its end-to-end twin is wrong (a class's bias raised): neither is written, nor
    anything else; the earlier export stands."""
    import zoo.exports.end_to_end
    from zoo.cli import main

    real = zoo.exports.end_to_end.end_to_end_model

    def wrong(proto, metadata):
        model = real(proto, metadata)
        bias = min((t for t in model.graph.initializer if len(t.dims) == 1 and t.dims[0] == 3), key=lambda t: t.name)
        values = numpy_helper.to_array(bias).copy()
        values[0] += 5.0
        bias.CopyFrom(numpy_helper.from_array(values, bias.name))
        return model

    exports = shutil.copytree(trained_runs, tmp_path / "exports")
    snapshot = {p: p.read_bytes() for p in sorted(exports.rglob("*")) if p.is_file()}
    assert exports / "iris_mlp" / "end_to_end" / "model.onnx" in snapshot  # zoo run wrote it
    monkeypatch.setattr(zoo.exports.end_to_end, "end_to_end_model", wrong)
    code = main(["export", "iris_mlp", "--out", str(exports), "--data-dir", str(trained_runs.parent / "data")])
    err = capsys.readouterr().err
    assert code == 1 and "end-to-end export failed validation: max |onnxruntime - Keras| on probabilities" in err
    assert {p: p.read_bytes() for p in sorted(exports.rglob("*")) if p.is_file()} == snapshot
