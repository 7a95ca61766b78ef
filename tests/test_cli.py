"""The zoo command end to end on small generated data."""

import json
import subprocess
import sys

import keras
import pytest

from zoo.cli import main


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_run_trains_evaluates_and_saves(tiny_data, tmp_path, capsys):
    out_dir = tmp_path / "exports"
    code, out, err = run_cli(capsys, "run", "mnist_mlp", "--epochs", "2", "--data-dir", str(tiny_data),
                             "--out", str(out_dir))
    assert code == 0, err
    folder = out_dir / "mnist_mlp"
    report = json.loads((folder / "report.json").read_text())
    # The synthetic digits are learnable: a working pipeline gets most of them right.
    assert report["metrics"]["accuracy"] > 0.8
    assert report["measured"] == {"metric": "accuracy", "value": report["metrics"]["accuracy"]}
    assert report["reference"]["value"] == 0.9788
    assert report["training"]["epochs"] == 2 and report["training"]["params"] == 407_050
    assert report["training"]["train_samples"] == 600 and report["training"]["train_samples_per_sec"] > 0
    assert len(report["history"]["loss"]) == 2 and "val_accuracy" in report["history"]
    assert len(report["confusion_matrix"]) == 10 and sum(map(sum, report["confusion_matrix"])) == 100
    assert set(report["per_class"]) == set("0123456789")
    assert report["environment"]["backend"] == keras.backend.backend()
    assert report["environment"]["device"]["kind"] == "cpu"
    assert report["data"]["origin"] == f"data dir {tiny_data / 'mnist'}"
    assert len(report["data"]["checksums_sha256"]) == 4
    assert {"keras", "numpy", "python", "zoo"} <= set(report["environment"]["versions"])
    markdown = (folder / "report.md").read_text()
    assert "| accuracy |" in markdown and "97.88%" in markdown and "## Per class" in markdown
    model = keras.saving.load_model(folder / "model.keras", safe_mode=True)
    assert model.count_params() == 407_050
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]  # no temporary files left
    assert "mnist_mlp" in out and "report.md" in out

    code, out, _ = run_cli(capsys, "list", "mnist_*", "--out", str(out_dir), "--json")
    rows = {row["name"]: row for row in json.loads(out)}
    assert rows["mnist_mlp"]["latest"]["value"] == report["metrics"]["accuracy"]
    assert rows["mnist_mlp"]["latest"]["folder"] == str(folder)
    assert rows["mnist_cnn"]["latest"] is None
    assert set(rows) == {"mnist_mlp", "mnist_mlp_rmsprop", "mnist_cnn", "mnist_cnn_inverted"}


def test_run_with_test_variants_and_augmentation(tiny_data, tmp_path, capsys):
    code, out, err = run_cli(capsys, "run", "mnist_cnn_inverted", "--data-dir", str(tiny_data),
                             "--out", str(tmp_path), "--batch-size", "32")
    assert code == 0, err
    report = json.loads((tmp_path / "mnist_cnn_inverted" / "report.json").read_text())
    assert report["training"]["train_samples"] == 600  # 300 images + 300 inverted copies
    assert set(report["test_variants"]) == {"inverted"}
    assert 0 <= report["test_variants"]["inverted"]["accuracy"] <= 1
    assert "inverted" in out


def test_regression_report(tmp_path, capsys):
    code, _, err = run_cli(capsys, "run", "fn_step", "--epochs", "2", "--out", str(tmp_path))
    assert code == 0, err
    report = json.loads((tmp_path / "fn_step" / "report.json").read_text())
    assert report["measured"]["metric"] == "r2"
    assert {"mse", "mae", "r2", "loss"} == set(report["metrics"])
    assert report["per_class"] == {} and report["confusion_matrix"] == []


def test_unknown_model_suggests_names(capsys):
    code, _, err = run_cli(capsys, "run", "mnist_mpl")
    assert code == 1
    assert err.strip() == ("zoo: error: unknown model 'mnist_mpl'. Did you mean 'mnist_mlp' or 'mnist_cnn' or "
                           "'mnist_mlp_rmsprop'? Run 'zoo list' to see every model.")


def test_missing_data_is_one_clear_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("ZOO_DATA_DIR", raising=False)
    import zoo.datasets

    monkeypatch.setattr(zoo.datasets, "_download", lambda spec: (_ for _ in ()).throw(
        zoo.datasets._Unreachable("https://example.invalid/mnist.npz: no network")))
    code, _, err = run_cli(capsys, "run", "mnist_mlp", "--data-dir", str(tmp_path / "nothing"), "--out", str(tmp_path))
    assert code == 1
    lines = err.strip().splitlines()
    assert lines[0].startswith("zoo: error: mnist_mlp: dataset 'mnist' not found; tried: data dir")
    assert "no network" in lines[0] and lines[-1] == "zoo: error: 1 of 1 runs failed"
    assert not (tmp_path / "mnist_mlp").exists()


def test_run_needs_names_or_all(capsys):
    code, _, err = run_cli(capsys, "run")
    assert code == 1 and "name the models to run, or pass --all" in err


def test_info_plugins_datasets(capsys, tiny_data):
    code, out, _ = run_cli(capsys, "info", "mnist_cnn")
    assert code == 0
    for text in ("215,370", "dataset:      mnist", "fit:          1 epochs, batch 128",
                 "test sets:    plain, inverted", "intro_deep_learning", "reference:    accuracy 9"):
        assert text in out
    assert "conv2d" not in out
    code, out, _ = run_cli(capsys, "info", "mnist_cnn", "--layers")
    assert code == 0 and "conv2d" in out and "Total params: 215,370" in out
    code, out, _ = run_cli(capsys, "plugins")
    assert code == 0 and "mnist_cnn_inverted" in out and "model fn_square, model fn_sin" in out
    code, out, _ = run_cli(capsys, "datasets", "--data-dir", str(tiny_data))
    assert f"data dir {tiny_data / 'mnist'}" in out and "load(): scikit-learn" in out


def test_list_filters(capsys):
    code, out, _ = run_cli(capsys, "list", "--task", "regression")
    assert code == 0 and "fn_sin" in out and "mnist" not in out
    code, out, _ = run_cli(capsys, "list", "--dataset", "iris")
    assert "iris_mlp" in out and "193" in out and "94.70%" in out
    code, _, err = run_cli(capsys, "list", "--dataset", "irs")
    assert code == 1 and "Did you mean 'iris' or" in err


def test_console_script_is_installed(tmp_path):
    result = subprocess.run([sys.executable, "-m", "zoo", "list", "--plugin", "iris_mlp"], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "iris_mlp" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "zoo", "info", "nope"], capture_output=True, text=True, timeout=300)
    assert bad.returncode == 1 and bad.stderr.strip().splitlines()[-1].startswith("zoo: error: unknown model 'nope'")


def test_load_run_reads_an_earlier_run(tiny_data, tmp_path):
    from zoo.run import RunOptions, load_run, run_model

    fresh = run_model("mnist_mlp", RunOptions(epochs=1, data_dir=tiny_data, out=tmp_path, verbose=0))
    again = load_run("mnist_mlp", tmp_path, tiny_data)
    assert again.trained is None and again.report == fresh.report
    assert again.evaluation.metrics["accuracy"] == fresh.evaluation.metrics["accuracy"]
    assert fresh.paths["model"] == tmp_path / "mnist_mlp" / "model.keras"


def test_load_run_without_a_run_says_what_to_do(tmp_path):
    from zoo.errors import ZooError
    from zoo.run import load_run

    with pytest.raises(ZooError, match=r"no finished run of 'iris_mlp' in .*run 'zoo run iris_mlp --out"):
        load_run("iris_mlp", tmp_path)
