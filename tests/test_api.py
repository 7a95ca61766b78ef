"""zoo's Python API, the reference set it ships, and how light `import zoo` and the quick commands stay."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo import locations
from zoo.exports.export import read_tensor

REPO = Path(__file__).resolve().parent.parent
REFERENCE = REPO / "reference"
BUILTIN = ["fashion_linear", "fn_abs", "fn_sin", "fn_square", "fn_step", "iris_mlp", "mnist_cnn",
           "mnist_cnn_inverted", "mnist_mlp", "mnist_mlp_rmsprop"]


def test_listing_and_specs():
    assert zoo.list_models() == BUILTIN
    assert zoo.list_models("mnist_cnn*") == ["mnist_cnn", "mnist_cnn_inverted"]
    assert zoo.list_models(tag="cnn") == ["mnist_cnn", "mnist_cnn_inverted"]
    assert zoo.list_models(task="regression", dataset="functions") == ["fn_abs", "fn_sin", "fn_square", "fn_step"]
    assert zoo.get_spec("iris_mlp").fit.steps_per_epoch == 150
    with pytest.raises(zoo.UnknownNameError, match=r"unknown model 'mnist_cn'\. Did you mean 'mnist_cnn'"):
        zoo.get_spec("mnist_cn")
    with pytest.raises(zoo.UnknownNameError, match="unknown dataset 'irs'"):
        zoo.list_models(dataset="irs")


def test_the_reference_set_is_the_packaged_one_declared_as_any_plugin_declares_its_own(registry):
    from zoo.reference_sets import shipped_sets

    (builtin,) = [s for s in shipped_sets(registry) if s.package == "zoo"]
    assert builtin.plugin == "reference_set" and builtin.root == REFERENCE and sorted(builtin.entries) == BUILTIN
    assert locations.runs_dir() == Path(os.environ["ZOO_HOME"]) / "runs"


@pytest.mark.parametrize("name", BUILTIN)
def test_cards_read_the_reference_reports(name):
    card = zoo.card(name)
    report = json.loads((REFERENCE / name / "report.json").read_text())
    assert card.reference.value == report["measured"]["value"] and card.latest is None
    assert card.params == report["training"]["params"] and card.macs == report["training"]["macs"]
    assert card.metric == ("accuracy" if card.task == "classification" else "r2")
    assert card.onnx_file == REFERENCE / name / "model.onnx"
    assert card.reference.onnx["sha256"] == report["onnx"]["sha256"]
    assert (card.distribution, card.build_error) == ("zoo", None)


def test_trained_model_and_onnx_export_agree_with_the_test_vectors():
    for name in ("mnist_cnn", "iris_mlp", "fn_sin"):
        x = read_tensor(REFERENCE / name / "test_data_set_0" / "input_0.pb")
        expected = read_tensor(REFERENCE / name / "test_data_set_0" / "output_0.pb")
        model = zoo.create_model(name, trained=True)
        assert model.optimizer is not None  # compiled as the spec says
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, atol=1e-5)
    vectors = REFERENCE / "iris_mlp" / "test_data_set_0"
    untrained = zoo.create_model("iris_mlp").predict(read_tensor(vectors / "input_0.pb"), verbose=0)
    assert not np.allclose(untrained, read_tensor(vectors / "output_0.pb"), atol=1e-3)  # the weights are what count


def test_load_onnx_predicts_from_raw_samples():
    export = zoo.load_onnx("iris_mlp")
    rows = zoo.load_dataset("iris").x_test[:5]
    probabilities = export.predict(rows)
    assert probabilities.shape == (5, 3) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    one = export.predict(rows[0])
    np.testing.assert_allclose(one, probabilities[:1], atol=1e-6)
    assert export.path == REFERENCE / "iris_mlp" / "end_to_end" / "model.onnx" and export.end_to_end
    assert export.metadata.class_names[0] == "setosa"
    with pytest.raises(zoo.ZooError, match=r"an array of shape \(3,\); iris_mlp takes 4"):
        export.predict(np.ones(3))
    digits = zoo.load_onnx("mnist_cnn")
    with pytest.raises(zoo.ZooError, match="raw, not preprocessed"):
        digits.predict(np.full((28, 28), 0.5))
    assert "<table>" in digits._repr_html_()


def test_trained_weights_need_a_reference(monkeypatch):
    import zoo.api
    from plugin_fakes import DatasetPlugin, ModelPlugin, source
    from zoo.plugins import build_registry, discover

    registry = build_registry([*discover(), source("data", DatasetPlugin()), source("net", ModelPlugin())])
    monkeypatch.setattr(zoo.api, "load_registry", lambda: registry)
    with pytest.raises(zoo.ZooError, match="no reference weights for 'tiny_net': its plugin ships none"):
        zoo.create_model("tiny_net", trained=True)


def test_train_returns_the_run_and_it_shows_in_a_notebook(tmp_path):
    run = zoo.train("fn_step", epochs=2, out=tmp_path, verbose=0)
    assert run.folder == tmp_path / "fn_step" and run.paths["onnx"].is_file() and run.export_failed is None
    assert run.report["training"]["epochs"] == 2 and run.evaluation.primary[0] == "r2"
    html = run._repr_html_()
    assert html.count("data:image/png;base64,") >= 2 and "fn_step" in html
    card = zoo.card("fn_step", out=tmp_path)
    assert card.latest.value == run.report["measured"]["value"] and card.latest.folder == run.folder
    assert "your latest run" in card._repr_html_() and "data:image/png" in card._repr_html_()
    again = zoo.load_run("fn_step", out=tmp_path)
    assert again.report == run.report


def test_quick_commands_import_neither_keras_nor_tensorflow(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("6.3,2.5,5.0,1.9\n")
    script = ("import sys; from zoo.cli import main; "
              f"codes = [main(['list']), main(['plugins']), main(['info', 'mnist_cnn']), main(['datasets']), "
              f"main(['predict', 'iris_mlp', {str(rows)!r}]), main(['report', '--out', {str(tmp_path / 'runs')!r}])]; "
              "heavy = sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules); "
              "print('RESULT', codes, heavy)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "RESULT [0, 0, 0, 0, 0, 0] []"
    assert "virginica" in result.stdout


def test_tensorflow_start_up_lines_are_silenced(tmp_path):
    result = subprocess.run([sys.executable, "-m", "zoo", "info", "iris_mlp", "--layers"], capture_output=True,
                            text=True, timeout=300, cwd=tmp_path)
    assert result.returncode == 0 and "Total params: 193" in result.stdout
    assert result.stderr == ""
    loud = subprocess.run([sys.executable, "-m", "zoo", "--verbose", "info", "iris_mlp", "--layers"],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path,
                          env={k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"})
    assert loud.returncode == 0 and loud.stderr != ""  # TensorFlow's own start-up lines, shown on request


def test_an_installed_zoo_works_from_an_empty_folder(tmp_path):
    """A non-editable install, used from a folder of its own: reference numbers, predict and the API work, and
    nothing is written outside the user's runs folder."""
    site, home, work = tmp_path / "site", tmp_path / "home", tmp_path / "work"
    work.mkdir()
    # A copy of the source, so the build's own files (build/, *.egg-info) land there and not in the checkout.
    source = shutil.copytree(REPO, tmp_path / "source", ignore=shutil.ignore_patterns(
        ".git", ".venv", ".tox", "build", "*.egg-info", "node_modules", ".whl", "__pycache__", ".pytest_cache"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(site), str(source)], check=True, timeout=600, capture_output=True)
    installed_reference = site / "zoo_reference"
    before = {p: p.stat().st_mtime_ns for p in site.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    env = {**os.environ, "PYTHONPATH": str(site), "ZOO_HOME": str(home)}
    listed = subprocess.run([sys.executable, "-m", "zoo", "list", "--json"], capture_output=True, text=True, env=env,
                            cwd=work, timeout=300)
    assert listed.returncode == 0, listed.stderr
    cards = json.loads(listed.stdout)
    assert [c["name"] for c in cards] == BUILTIN and all(c["reference"]["value"] is not None for c in cards)
    assert all(Path(c["reference"]["folder"]).parent == installed_reference for c in cards)
    digit = read_tensor(installed_reference / "mnist_cnn" / "test_data_set_0" / "input_0.pb")[7]
    np.save(work / "seven.npy", np.round(digit[..., 0] * 255).astype(np.uint8))
    predicted = subprocess.run([sys.executable, "-m", "zoo", "predict", "mnist_cnn", "seven.npy", "--json"],
                               capture_output=True, text=True, env=env, cwd=work, timeout=300)
    assert predicted.returncode == 0, predicted.stderr
    assert json.loads(predicted.stdout)[0]["classes"][0]["name"] == "7"
    api = subprocess.run([sys.executable, "-c", "import zoo; m = zoo.create_model('iris_mlp', trained=True); "
                          "print(zoo.card('iris_mlp').reference.value, m.count_params())"],
                         capture_output=True, text=True, env=env, cwd=work, timeout=300)
    assert api.returncode == 0, api.stderr
    assert api.stdout.split()[-1] == "193"
    after = {p: p.stat().st_mtime_ns for p in site.rglob("*") if p.is_file() and "__pycache__" not in p.parts}
    assert after == before and sorted(p.name for p in work.iterdir()) == ["seven.npy"]


def test_the_example_notebook_runs(tmp_path):
    """examples/quickstart.ipynb, executed in a real Jupyter kernel: every cell runs, the card and run show as HTML."""
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    notebook = nbformat.read(REPO / "examples" / "quickstart.ipynb", as_version=4)
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    html = [o["data"]["text/html"] for o in outputs if "text/html" in o.get("data", {})]
    assert len(html) == 2 and all("data:image/png;base64," in h for h in html)
    assert (tmp_path / "runs" / "fn_sin" / "model.onnx").is_file()
