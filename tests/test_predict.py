"""`zoo predict`: PNG/NPY images and CSV rows through the ONNX export, with clear errors for bad input."""

import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from zoo.cli import main
from zoo.idx import read_idx_folder
from zoo.exports.predict import PredictError, open_export, predict_files


def predict(capsys, *argv):
    code = main(["predict", *map(str, argv)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def mnist_test(trained_runs):
    return read_idx_folder(trained_runs.parent / "data" / "mnist")  # the trained_runs fixture's data


def test_png_and_npy_images_are_classified(trained_runs, mnist_test, tmp_path, capsys):
    Image.fromarray(mnist_test.x_test[0]).save(tmp_path / "first.png")
    np.save(tmp_path / "batch.npy", mnist_test.x_test[:5])
    code, out, err = predict(capsys, "mnist_mlp", tmp_path / "first.png", tmp_path / "batch.npy", "--out",
                             trained_runs)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 6 and lines[0].startswith("first.png: ") and lines[1].startswith("batch.npy[0]: ")
    assert lines[0].split(": ")[1] == lines[1].split(": ")[1]  # the same image as PNG and as NPY
    assert lines[0].count("%") == 3  # top 3 by default

    export = open_export("mnist_mlp", trained_runs)
    predictions = predict_files(export, [tmp_path / "batch.npy"], top=10)
    probabilities = export.probabilities(mnist_test.x_test[:5])
    for prediction, row in zip(predictions, probabilities):
        assert prediction.classes[0] == (str(row.argmax()), pytest.approx(float(row.max())))
        assert sum(p for _, p in prediction.classes) == pytest.approx(1.0, abs=1e-5)
    # The synthetic digits are learnable: most are classified right through the ONNX file.
    assert np.mean(probabilities.argmax(axis=1) == mnist_test.y_test[:5]) >= 0.6


def test_logits_become_probabilities_and_json(trained_runs, tmp_path, capsys):
    fashion = read_idx_folder(trained_runs.parent / "data" / "fashion-mnist")
    np.save(tmp_path / "one.npy", fashion.x_test[0])
    code, out, err = predict(capsys, "fashion_linear", tmp_path / "one.npy", "--json", "--top", "10", "--out",
                             trained_runs)
    assert code == 0, err
    (result,) = json.loads(out)
    assert result["source"] == "one.npy" and len(result["classes"]) == 10
    assert sum(c["probability"] for c in result["classes"]) == pytest.approx(1.0, abs=1e-5)
    assert {c["name"] for c in result["classes"]} >= {"T-shirt/top", "Ankle boot"}


def test_iris_csv_rows_and_regression_values(trained_runs, tmp_path, capsys):
    (tmp_path / "flowers.csv").write_text("sepal_length,sepal_width,petal_length,petal_width\n"
                                          "5.1,3.5,1.4,0.2\n\n6.7,3.0,5.2,2.3\n")
    code, out, err = predict(capsys, "iris_mlp", tmp_path / "flowers.csv", "--top", "1", "--out", trained_runs)
    assert code == 0, err
    lines = out.splitlines()
    assert [line.split(":")[0] for line in lines] == ["flowers.csv line 2", "flowers.csv line 4"]
    assert all(line.split(": ")[1].split()[0] in ("setosa", "versicolor", "virginica") for line in lines)

    (tmp_path / "x.csv").write_text("0.5\n-2\n")
    code, out, err = predict(capsys, "fn_square", tmp_path / "x.csv", "--out", trained_runs)
    assert code == 0, err
    assert out.splitlines()[0].startswith("x.csv line 1: x = 0.5 -> square = ")


@pytest.mark.parametrize("case, message", [
    ("big.png", "big.png: 32x32 pixels; mnist_mlp takes 28x28 uint8 pixels 0-255, so resize it first"),
    ("text.png", "text.png: not a readable PNG image"),
    ("photo.gif", "photo.gif: unsupported file type '.gif'; give PNG or JPEG images, .npy arrays or .csv rows"),
    ("scaled.npy", "scaled.npy: values from 0 to 1; mnist_mlp takes 28x28 uint8 pixels 0-255"),
    ("wrong_shape.npy", "wrong_shape.npy: an array of shape (2, 784); mnist_mlp takes 28x28 uint8"),
    ("deep.png", "deep.png: I;16 pixels (more than 8 bits); give an 8-bit PNG"),
    ("missing.npy", "missing.npy: no such file"),
])
def test_bad_images_get_one_clear_line(trained_runs, mnist_test, tmp_path, capsys, case, message):
    image = mnist_test.x_test[0]
    Image.fromarray(image).resize((32, 32)).save(tmp_path / "big.png")
    (tmp_path / "text.png").write_text("not an image")
    Image.fromarray(image).save(tmp_path / "photo.gif")
    np.save(tmp_path / "scaled.npy", image / 255.0)
    np.save(tmp_path / "wrong_shape.npy", mnist_test.x_test[:2].reshape(2, 784))
    Image.fromarray(image.astype(np.uint16) * 256).save(tmp_path / "deep.png")
    code, out, err = predict(capsys, "mnist_mlp", tmp_path / case, "--out", trained_runs)
    assert code == 1 and out == ""
    assert err.startswith("zoo: error: ") and message in err and err.count("\n") == 1


@pytest.mark.parametrize("content, message", [
    ("5.1,3.5,1.4\n", "bad.csv line 1: 3 values; iris_mlp takes 4 per row"),
    ("5.1,3.5,1.4,0.2\n5.1,x,1.4,0.2\n", "bad.csv line 2: not a number"),
    ("a,b,c,d\n", "bad.csv: no rows of values"),
])
def test_bad_csv_rows_get_one_clear_line(trained_runs, tmp_path, capsys, content, message):
    (tmp_path / "bad.csv").write_text(content)
    code, _, err = predict(capsys, "iris_mlp", tmp_path / "bad.csv", "--out", trained_runs)
    assert code == 1 and message in err


def test_images_for_a_tabular_model_are_refused(trained_runs, mnist_test, tmp_path, capsys):
    Image.fromarray(mnist_test.x_test[0]).save(tmp_path / "digit.png")
    code, _, err = predict(capsys, "iris_mlp", tmp_path / "digit.png", "--out", trained_runs)
    assert code == 1 and "iris_mlp does not take images" in err


def test_a_changed_model_file_is_refused(trained_runs, tmp_path, capsys):
    exports = shutil.copytree(trained_runs, tmp_path / "exports")
    (tmp_path / "x.csv").write_text("5.1,3.5,1.4,0.2\n")
    model = exports / "iris_mlp" / "model.onnx"
    shutil.copy(exports / "fn_square" / "model.onnx", model)  # a valid ONNX file, but not the recorded one
    code, _, err = predict(capsys, "iris_mlp", tmp_path / "x.csv", "--out", exports)
    assert code == 1
    assert "model.onnx: sha256" in err and "differs from" in err and "zoo export iris_mlp" in err

    (exports / "manifest.json").unlink()
    with pytest.raises(PredictError, match="manifest.json has no sha256 for iris_mlp/model.onnx"):
        open_export("iris_mlp", exports)
    with pytest.raises(PredictError, match="no ONNX export of 'mnist_cnn'"):
        open_export("mnist_cnn", exports)


def test_predict_needs_neither_keras_nor_tensorflow(trained_runs, tmp_path):
    """`zoo predict` runs on onnxruntime alone: with Keras and TensorFlow unimportable it still works."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in ('tensorflow', 'keras', 'jax', 'torch'):\n"
        "            raise ImportError(f'{name} is blocked for this test')\n"
        "sys.meta_path.insert(0, Block())\n")
    (tmp_path / "x.csv").write_text("5.1,3.5,1.4,0.2\n")
    env = {**os.environ, "PYTHONPATH": str(blocker)}
    blocked = subprocess.run([sys.executable, "-c", "import keras"], env=env, capture_output=True, text=True)
    assert blocked.returncode != 0 and "blocked for this test" in blocked.stderr
    result = subprocess.run([sys.executable, "-m", "zoo", "predict", "iris_mlp", str(tmp_path / "x.csv"), "--out",
                             str(trained_runs)], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.startswith("x.csv line 1: ")
