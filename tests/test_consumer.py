"""examples/onnx_consumer.py: a downstream app with numpy and onnxruntime only, no TensorFlow, Keras or zoo."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from zoo.idx import read_idx_folder
from zoo.exports.predict import open_export
from zoo_plugins.datasets.functions import CURVES, sample_curves
from zoo_plugins.datasets.iris import load_iris_splits

from import_blocker import blocking_env

REPO = Path(__file__).resolve().parent.parent
CONSUMER = REPO / "examples" / "onnx_consumer.py"
COMMITTED = REPO / "reference"
BLOCKED = ("tensorflow", "keras", "zoo", "zoo_plugins", "jax", "torch", "PIL")


@pytest.fixture
def app_env(tmp_path) -> dict[str, str]:
    """An environment where importing TensorFlow, Keras, zoo (and Pillow) fails, checked to really fail."""
    env = blocking_env(tmp_path / "blocker", BLOCKED, "a downstream app does not have it")
    for module in ("keras", "zoo"):
        check = subprocess.run([sys.executable, "-c", f"import {module}"], env=env, capture_output=True, text=True)
        assert check.returncode != 0 and "a downstream app does not have it" in check.stderr, module
    return env


def consume(env, model: Path, *inputs: Path, as_json: bool = True) -> dict | str:
    result = subprocess.run([sys.executable, str(CONSUMER), str(model), *map(str, inputs),
                             *(["--json"] if as_json else [])], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout) if as_json else result.stdout


def write_csv(path: Path, rows: np.ndarray, header: str | None = None) -> Path:
    lines = ([header] if header else []) + [",".join(repr(float(v)) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_consumer_classifies_raw_images_as_zoo_does(trained_runs, app_env, tmp_path):
    raw = read_idx_folder(trained_runs.parent / "data" / "mnist").x_test[:20]  # the fixture's generated data
    np.save(tmp_path / "digits.npy", raw)
    np.save(tmp_path / "one.npy", raw[0])
    for name in ("mnist_cnn_inverted", "mnist_mlp"):
        model = trained_runs / name / "model.onnx"
        result = consume(app_env, model, tmp_path / "digits.npy", tmp_path / "one.npy")
        predictions = result["predictions"]
        assert result["model"] == name and len(predictions) == 21
        expected = open_export(name, trained_runs).probabilities(raw)
        assert [p["class_index"] for p in predictions[:20]] == expected.argmax(axis=1).tolist()
        np.testing.assert_allclose([p["probability"] for p in predictions[:20]], expected.max(axis=1), rtol=1e-6)
        assert predictions[20]["class"] == predictions[0]["class"]

    text = consume(app_env, trained_runs / "mnist_mlp" / "model.onnx", tmp_path / "one.npy", as_json=False)
    assert text.splitlines()[0].startswith("mnist_mlp: 784 → Dense 512 relu → Dense 10 softmax")
    assert text.splitlines()[1].startswith(f"{tmp_path / 'one.npy'}[0]: ") and "(probability 0." in text


def test_consumer_applies_softmax_to_logits_and_reads_csv(trained_runs, app_env, tmp_path):
    raw = read_idx_folder(trained_runs.parent / "data" / "fashion-mnist").x_test[:10]
    np.save(tmp_path / "clothes.npy", raw)
    predictions = consume(app_env, trained_runs / "fashion_linear" / "model.onnx", tmp_path / "clothes.npy")["predictions"]
    expected = open_export("fashion_linear", trained_runs).probabilities(raw)  # softmax of the logits
    np.testing.assert_allclose([p["probability"] for p in predictions], expected.max(axis=1), rtol=1e-5)

    rows = load_iris_splits().x_test[:8]
    csv = write_csv(tmp_path / "flowers.csv", rows, "sepal_length,sepal_width,petal_length,petal_width")
    predictions = consume(app_env, trained_runs / "iris_mlp" / "model.onnx", csv)["predictions"]
    expected = open_export("iris_mlp", trained_runs).probabilities(rows)
    assert [p["class_index"] for p in predictions] == expected.argmax(axis=1).tolist()

    xs = np.array([[0.5], [-2.0]])
    predictions = consume(app_env, trained_runs / "fn_square" / "model.onnx", write_csv(tmp_path / "x.csv", xs))
    np.testing.assert_allclose([p["square"] for p in predictions["predictions"]],
                               open_export("fn_square", trained_runs).outputs(xs)[:, 0], rtol=1e-6)


def test_consumer_refuses_preprocessed_or_misshapen_data(trained_runs, app_env, tmp_path):
    raw = read_idx_folder(trained_runs.parent / "data" / "mnist").x_test[:2]
    np.save(tmp_path / "scaled.npy", raw / 255.0)
    np.save(tmp_path / "small.npy", raw[:, :20, :20])
    for name, message in (("scaled.npy", "takes raw uint8 values (0-255), not values from 0 to 1"),
                          ("small.npy", "samples of shape (20, 20), the model takes raw samples of (28, 28)")):
        result = subprocess.run([sys.executable, str(CONSUMER), str(trained_runs / "mnist_mlp" / "model.onnx"),
                                 str(tmp_path / name)], env=app_env, capture_output=True, text=True, timeout=120)
        assert result.returncode != 0 and message in result.stderr


# The committed exports against the full test sets: what an app gets is what the report says.
ENTRIES = {"mnist_mlp": "mnist", "mnist_mlp_rmsprop": "mnist", "mnist_cnn": "mnist", "mnist_cnn_inverted": "mnist",
           "fashion_linear": "fashion-mnist", "iris_mlp": None, "fn_square": None, "fn_sin": None, "fn_abs": None,
           "fn_step": None}


@pytest.mark.full_data
@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_committed_exports_score_as_reported(name, app_env, tmp_path, request):
    """Through the app and through `zoo predict`'s path, within 0.5 points of the report (0.005 of R²)."""
    report_path = COMMITTED / name / "report.json"
    assert report_path.is_file(), f"{report_path} is missing: run 'zoo run --all' and commit exports/"
    report = json.loads(report_path.read_text())
    export = open_export(name, COMMITTED)
    if ENTRIES[name]:
        test = read_idx_folder(request.getfixturevalue("full_data") / ENTRIES[name])
        raw, truth = test.x_test, test.y_test
        np.save(tmp_path / "test.npy", raw)
        inputs = tmp_path / "test.npy"
    elif name == "iris_mlp":
        raw, truth = load_iris_splits().x_test, load_iris_splits().y_test
        inputs = write_csv(tmp_path / "test.csv", raw)
    else:
        target = export.metadata.target_names[0]
        test = sample_curves()
        raw, truth = test.x_test, test.y_test[:, list(CURVES).index(target)]
        inputs = write_csv(tmp_path / "test.csv", raw)
    predictions = consume(app_env, COMMITTED / name / "model.onnx", inputs)["predictions"]
    assert len(predictions) == len(raw) == report["data"]["n_test"]
    if report["task"] == "classification":
        scores = {"app": np.mean(np.array([p["class_index"] for p in predictions]) == truth),
                  "zoo predict": np.mean(export.probabilities(raw).argmax(axis=1) == truth)}
        reported = report["measured"]["value"]
    else:
        def r2(y):
            return 1 - np.sum((truth - y) ** 2) / np.sum((truth - truth.mean()) ** 2)

        scores = {"app": r2(np.array([p[target] for p in predictions])), "zoo predict": r2(export.outputs(raw)[:, 0])}
        reported = report["metrics"]["r2"]
    for path, score in scores.items():
        assert abs(score - reported) <= 0.005, f"{name} through {path}: {score:.4f}, report says {reported:.4f}"


def test_consumer_feeds_raw_pixels_to_the_end_to_end_file_and_still_reads_older_exports(app_env, tmp_path):
    """Given the end-to-end file, or model.onnx with it beside, or model.onnx alone (an export of an earlier zoo):
    the same classes and probabilities."""
    from zoo.exports.export import read_tensor

    raw = read_tensor(COMMITTED / "fashion_linear" / "end_to_end" / "test_data_set_0" / "input_0.pb")
    np.save(tmp_path / "clothes.npy", raw)
    older = tmp_path / "older" / "model.onnx"
    older.parent.mkdir()
    shutil.copy(COMMITTED / "fashion_linear" / "model.onnx", older)
    results = [consume(app_env, model, tmp_path / "clothes.npy")["predictions"]
               for model in (COMMITTED / "fashion_linear" / "end_to_end" / "model.onnx",
                             COMMITTED / "fashion_linear" / "model.onnx", older)]
    vectors = COMMITTED / "fashion_linear" / "end_to_end" / "test_data_set_0"
    assert [p["class_index"] for p in results[0]] == read_tensor(vectors / "output_1.pb").tolist()  # Keras' classes
    for other in results[1:]:
        assert [p["class_index"] for p in other] == [p["class_index"] for p in results[0]]
        np.testing.assert_allclose([p["probability"] for p in other], [p["probability"] for p in results[0]],
                                   atol=1e-5)
