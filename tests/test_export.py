"""ONNX exports: written by `zoo run` and `zoo export`, validated, self-describing, all or nothing."""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import zoo
from plugin_fakes import DatasetPlugin, ModelPlugin, source, tiny_dataset, tiny_model
from zoo.cli import main
from zoo.errors import ExportError
from zoo.exports.compare import TOLERANCE, compare_outputs
from zoo.exports.convert import OPSET
from zoo.exports.export import input_layout, read_tensor, tensor_names
from zoo.exports.manifest import read_manifest, update_manifest
from zoo.files import sha256_file
from zoo.idx import read_idx_folder
from zoo.exports.metadata import KEYS, OnnxMetadata
from zoo.plugins import build_registry
from zoo.run import RunOptions, run_model


def data_dir(exports):
    return exports.parent / "data"  # where the trained_runs fixture keeps its generated data


def session(path):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def metadata_of(path) -> OnnxMetadata:
    return OnnxMetadata.from_props(session(path).get_modelmeta().custom_metadata_map)


def test_run_writes_a_self_describing_export(trained_runs):
    folder = trained_runs / "mnist_mlp"
    model = onnx.load(str(folder / "model.onnx"))
    onnx.checker.check_model(model, full_check=True)
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [OPSET]
    (inp,), (out,) = model.graph.input, model.graph.output
    assert (inp.name, out.name) == ("pixels", "probabilities")
    assert [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim] == ["batch", 784]
    assert [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim] == ["batch", 10]

    props = {p.key: p.value for p in model.metadata_props}
    assert set(props) == set(KEYS)
    meta = OnnxMetadata.from_props(props)
    report = json.loads((folder / "report.json").read_text())
    assert (meta.model_name, meta.dataset, meta.task, meta.output_kind) == ("mnist_mlp", "mnist", "classification",
                                                                            "probabilities")
    assert meta.class_names == [str(d) for d in range(10)]
    assert (meta.input_shape, meta.raw_input_shape, meta.raw_input_dtype) == ([None, 784], [28, 28], "uint8")
    assert meta.input_layout.startswith("NC ") and "flattened row-major" in meta.input_layout
    assert (meta.preprocess_scale, meta.preprocess_offset) == (1 / 255, 0.0)
    assert meta.preprocessing == "x / 255, reshaped to (784,)"
    assert (meta.metric_name, meta.metric_value) == ("accuracy", report["measured"]["value"])
    assert meta.metric_test_samples == 100 and meta.zoo_version == zoo.__version__
    assert meta.tutorial_source == report["tutorial"]["source"] and "tensorflow backend" in meta.trained_with

    facts = report["onnx"]
    assert facts["sha256"] == sha256_file(folder / "model.onnx") and facts["opset"] == OPSET
    check = facts["validation"]
    assert check["samples"] == 100 and check["class_mismatches"] == 0
    assert check["max_abs_diff"] <= TOLERANCE and "fewer than 1,000" in check["note"]
    assert "## ONNX export" in (folder / "report.md").read_text()


def test_metadata_reproduces_the_preprocessing_from_raw_data(trained_runs):
    """input_0.pb holds real test samples: the metadata's recipe applied to the raw images gives them exactly."""
    for name in ("mnist_mlp", "mnist_cnn_inverted", "fashion_linear"):
        folder = trained_runs / name
        meta = metadata_of(folder / "model.onnx")
        raw = read_idx_folder(data_dir(trained_runs) / ("mnist" if meta.dataset == "mnist" else "fashion-mnist"))
        indices = json.loads((folder / "report.json").read_text())["onnx"]["test_data_set"]["test_indices"]
        x = read_tensor(folder / "test_data_set_0" / "input_0.pb")
        assert len(indices) == 10  # the first test image of each class
        np.testing.assert_array_equal(meta.preprocess(raw.x_test[indices]), x)


def test_test_vectors_hold_keras_outputs_and_replay(trained_runs):
    from zoo.run import load_run

    for name in ("mnist_cnn_inverted", "fashion_linear", "iris_mlp", "fn_square"):
        folder = trained_runs / name
        meta = metadata_of(folder / "model.onnx")
        x = read_tensor(folder / "test_data_set_0" / "input_0.pb")
        expected = read_tensor(folder / "test_data_set_0" / "output_0.pb")
        # The source's own outputs, computed as the export computed them (the whole test split in Keras'
        # batches: oneDNN's sums depend on the batch, so a batch of these samples alone may differ in the last bit).
        run = load_run(name, trained_runs, data_dir(trained_runs))
        indices = run.report["onnx"]["test_data_set"]["test_indices"]
        np.testing.assert_array_equal(x, run.data.x_test[indices])
        np.testing.assert_array_equal(expected, run.evaluation.outputs[indices])
        actual = session(folder / "model.onnx").run([meta.output_name], {meta.input_name: x})[0]
        assert compare_outputs(expected, actual, meta.output_kind).passed


def test_names_say_what_the_tensors_are(trained_runs):
    names = {}
    for name in ("fashion_linear", "iris_mlp", "fn_square", "mnist_cnn_inverted"):
        model = onnx.load(str(trained_runs / name / "model.onnx"))
        names[name] = (model.graph.input[0].name, model.graph.output[0].name)
    assert names == {"fashion_linear": ("pixels", "logits"), "iris_mlp": ("features", "probabilities"),
                     "fn_square": ("x", "y"), "mnist_cnn_inverted": ("pixels", "probabilities")}
    assert metadata_of(trained_runs / "mnist_cnn_inverted" / "model.onnx").input_layout.startswith("NHWC")
    assert metadata_of(trained_runs / "fn_square" / "model.onnx").target_names == ["square"]


def test_manifest_records_every_export(trained_runs):
    manifest = read_manifest(trained_runs)
    assert manifest["schema"] == "zoo.manifest/2" and manifest["zoo_version"] == zoo.__version__
    for name, entry in manifest["entries"].items():
        for path, facts in entry["files"].items():
            assert path.startswith(f"{name}/")
            assert facts == {"sha256": sha256_file(trained_runs / path), "bytes": (trained_runs / path).stat().st_size}
        assert entry["opset"] == OPSET and entry["validation"]["max_scaled_diff"] <= TOLERANCE
        assert {"onnx", "onnxruntime", "tf2onnx", "keras"} <= set(entry["versions"])
        assert entry["metric"]["name"] in ("accuracy", "r2") and entry["created"]
    assert {"fashion_linear", "iris_mlp", "fn_square", "mnist_mlp"} <= set(manifest["entries"])


def test_compare_outputs_tolerance():
    rng = np.random.default_rng(0)
    probabilities = rng.dirichlet(np.ones(10), size=50)
    assert compare_outputs(probabilities, probabilities + 5e-5, "probabilities").passed
    assert not compare_outputs(probabilities, probabilities + 2e-4, "probabilities").passed
    # Logits in the thousands: float32 noise of 1e-3 is within 1e-4 of their size...
    logits = rng.normal(0, 1000, size=(50, 10))
    noisy = compare_outputs(logits, logits + rng.uniform(-1e-3, 1e-3, logits.shape), "logits")
    assert noisy.passed and noisy.max_abs_diff > TOLERANCE and noisy.max_scaled_diff < TOLERANCE
    # ...a real drift is not, and neither is one changed class.
    assert not compare_outputs(logits, logits * 1.001, "logits").passed
    flipped = probabilities.copy()
    flipped[0] = flipped[0][::-1]
    mismatch = compare_outputs(probabilities, flipped, "probabilities")
    assert not mismatch.passed and mismatch.class_mismatches >= 1
    assert not compare_outputs(probabilities, np.full_like(probabilities, np.nan), "probabilities").passed
    values = rng.normal(size=(20, 1))
    assert compare_outputs(values, values + 5e-5, "values").passed
    assert not compare_outputs(values, values + 1e-3, "values").passed
    with pytest.raises(ExportError, match="shape"):
        compare_outputs(values, values[:3], "values")


def test_tensor_names_and_layouts():
    image, iris = tiny_model(), tiny_dataset()
    assert tensor_names(image, iris, (28, 28)) == ("pixels", "probabilities")
    assert tensor_names(image, iris, (4,)) == ("features", "probabilities")
    assert input_layout((28, 28, 1), (28, 28)).startswith("NHWC")
    assert input_layout((28, 28), (28, 28)).startswith("NHW ")
    assert input_layout((4,), (4,)) == "NC (batch, features)"


def test_metadata_round_trips_and_refuses_foreign_files(trained_runs):
    meta = metadata_of(trained_runs / "iris_mlp" / "model.onnx")
    assert OnnxMetadata.from_props(meta.to_props()) == meta
    props = meta.to_props()
    with pytest.raises(ExportError, match="metadata lacks class_names"):
        OnnxMetadata.from_props({k: v for k, v in props.items() if k != "class_names"})
    with pytest.raises(ExportError, match="not a zoo export"):
        OnnxMetadata.from_props({})


def _corrupting_converter(monkeypatch):
    """Make the converter return a subtly wrong model: one class's output bias raised by 0.5."""
    import zoo.exports.export

    real = zoo.exports.export.convert_to_onnx

    def convert(*args, **kwargs):
        proto = real(*args, **kwargs)
        biases = [t for t in proto.graph.initializer if len(t.dims) == 1 and t.dims[0] > 1]
        bias = min(biases, key=lambda t: t.dims[0])  # iris_mlp's last layer: 3 classes
        values = onnx.numpy_helper.to_array(bias).copy()
        values[0] += 0.5
        bias.CopyFrom(onnx.numpy_helper.from_array(values, bias.name))
        return proto

    monkeypatch.setattr(zoo.exports.export, "convert_to_onnx", convert)


def _snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_failed_validation_writes_nothing_and_keeps_the_earlier_export(trained_runs, tmp_path, monkeypatch, capsys):
    exports = shutil.copytree(trained_runs, tmp_path / "exports")
    before = _snapshot(exports / "iris_mlp"), (exports / "manifest.json").read_bytes()
    _corrupting_converter(monkeypatch)
    code = main(["export", "iris_mlp", "--out", str(exports), "--data-dir", str(data_dir(trained_runs))])
    err = capsys.readouterr().err
    assert code == 1
    assert "ONNX export failed validation: max |onnxruntime - Keras| on probabilities" in err
    assert "(tolerance 0.0001) over 38 test samples" in err and "model.onnx was not written" in err
    # model.onnx, model.keras, report, test vectors and manifest all as they were
    assert (_snapshot(exports / "iris_mlp"), (exports / "manifest.json").read_bytes()) == before
    assert not [p for p in exports.iterdir() if p.name.startswith(".")]  # no staging folder left


def test_a_failed_export_keeps_the_trained_run_and_can_be_retried(trained_runs, tmp_path, monkeypatch, capsys):
    """Training is never lost to an export problem: the run is saved without an export, and `zoo export` retries."""
    import zoo.exports.export

    exports = shutil.copytree(trained_runs, tmp_path / "exports")
    real = zoo.exports.export.convert_to_onnx
    _corrupting_converter(monkeypatch)
    code = main(["run", "iris_mlp", "--epochs", "1", "--out", str(exports)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 1
    assert err[0].startswith(f"zoo: error: iris_mlp: trained and saved to {exports / 'iris_mlp'}, but the ONNX "
                             "export failed: ONNX export failed validation")
    assert err[0].endswith(f"retry with 'zoo export iris_mlp --out {exports}'") and len(err) == 2
    folder = exports / "iris_mlp"
    report = json.loads((folder / "report.json").read_text())
    assert report["onnx"]["failed"].startswith("ONNX export failed validation")
    assert (folder / "model.keras").is_file() and (folder / "plots").is_dir() and not (folder / "model.onnx").exists()
    assert "iris_mlp" not in read_manifest(exports)["entries"]  # no export that looks valid
    assert "**Failed**" in (folder / "report.md").read_text()

    monkeypatch.setattr(zoo.exports.export, "convert_to_onnx", real)
    assert main(["export", "iris_mlp", "--out", str(exports)]) == 0
    assert json.loads((folder / "report.json").read_text())["onnx"]["validation"]["class_mismatches"] == 0
    assert read_manifest(exports)["entries"]["iris_mlp"]["files"]["iris_mlp/model.onnx"]["sha256"] == \
        sha256_file(folder / "model.onnx")


def test_export_adds_onnx_to_an_earlier_run(trained_runs, tmp_path, capsys):
    exports = shutil.copytree(trained_runs, tmp_path / "exports")
    for path in [exports / "fn_square" / "model.onnx", *(exports / "fn_square" / "test_data_set_0").iterdir()]:
        path.unlink()
    code = main(["export", "fn_*", "--out", str(exports), "--data-dir", str(data_dir(trained_runs))])
    captured = capsys.readouterr()
    assert code == 1  # fn_square exported; fn_sin, fn_abs and fn_step were never run there
    assert "fn_sin: no finished run of 'fn_sin'" in captured.err and "3 of 4 exports failed" in captured.err
    assert "fn_square" in captured.out
    entry = read_manifest(exports)["entries"]["fn_square"]
    assert entry["files"]["fn_square/model.onnx"]["sha256"] == sha256_file(exports / "fn_square" / "model.onnx")
    report = json.loads((exports / "fn_square" / "report.json").read_text())
    assert report["onnx"]["sha256"] == entry["files"]["fn_square/model.onnx"]["sha256"]
    assert (exports / "fn_square" / "model.keras").is_file()  # the rest of the run is kept


def test_manifest_drops_an_entry_without_export(trained_runs, tmp_path):
    exports = shutil.copytree(trained_runs, tmp_path / "exports")
    update_manifest(exports / "iris_mlp", {"onnx": {"skipped": "jax"}})
    entries = read_manifest(exports)["entries"]
    assert "iris_mlp" not in entries and "fn_square" in entries
    (exports / "manifest.json").write_text("{not json")
    with pytest.raises(ExportError, match="manifest.json: unreadable.*zoo export --all"):
        read_manifest(exports)


def test_a_plugin_model_exports_with_no_code_of_its_own(tmp_path):
    registry = build_registry([source("data", DatasetPlugin()), source("net", ModelPlugin())])
    run = run_model("tiny_net", RunOptions(epochs=1, out=tmp_path, verbose=0), registry)
    meta = metadata_of(run.paths["onnx"])
    assert (meta.input_name, meta.output_name, meta.class_names) == ("features", "probabilities", ["a", "b"])
    assert meta.preprocessing == "none (raw values as float32)"
    assert run.report["onnx"]["validation"]["samples"] == 10


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="the jax Keras backend is not installed")
def test_a_model_trained_under_jax_exports_under_tensorflow(tmp_path, capsys):
    """A run saved under JAX without its export (``--no-export``) exports later from this TensorFlow process,
    validated against Keras' outputs here; the report says which backend trained it."""
    env = {**os.environ, "KERAS_BACKEND": "jax"}
    trained = subprocess.run([sys.executable, "-m", "zoo", "run", "iris_mlp", "--epochs", "1", "--no-export", "--out",
                              str(tmp_path)], capture_output=True, text=True, env=env, timeout=600)
    assert trained.returncode == 0, trained.stderr[-3000:]
    report = json.loads((tmp_path / "iris_mlp" / "report.json").read_text())
    assert report["onnx"] == {"skipped": "zoo run --no-export"} and not (tmp_path / "iris_mlp" / "model.onnx").exists()
    assert main(["export", "iris_mlp", "--out", str(tmp_path)]) == 0, capsys.readouterr().err
    conversion = json.loads((tmp_path / "iris_mlp" / "report.json").read_text())["onnx"]["conversion"]
    assert (conversion["trained_backend"], conversion["keras_backend"]) == ("jax", "tensorflow")
    assert metadata_of(tmp_path / "iris_mlp" / "model.onnx").trained_with.endswith("(jax backend)")
    assert read_manifest(tmp_path)["entries"]["iris_mlp"]["validation"]["class_mismatches"] == 0


def test_export_without_a_run_says_what_to_do(tmp_path, capsys):
    assert main(["export", "mnist_mlp", "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "no finished run of 'mnist_mlp'" in err and "zoo run mnist_mlp" in err
    assert main(["export"]) == 1


def test_docs_document_every_metadata_key():
    from pathlib import Path

    docs = (Path(__file__).resolve().parent.parent / "docs" / "exports.md").read_text()
    for key, description in KEYS.items():
        assert f"| `{key}` | {description} |" in docs, f"docs/exports.md's metadata table is out of date for {key}"
