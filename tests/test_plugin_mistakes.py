"""Other people's plugins: a real distribution with the mistakes a newcomer makes, installed and used through
the `zoo` command as a user would. Each mistake is said in at most three lines on stderr, with no traceback;
every other entry still lists, runs and exports; the exit code is non-zero only when the user asked for the
broken thing.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

PACKAGE = Path(__file__).resolve().parent / "zoo-mistakes"
PLUGINS = ("typo", "two_hooks", "broken", "misfit", "called", "impostor", "normalized", "standardized", "exits",
           "custom")


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The zoo-mistakes distribution installed into a folder of its own, found through PYTHONPATH."""
    target = tmp_path_factory.mktemp("site")
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(PACKAGE)], check=True, timeout=300)
    return target


def zoo(site: Path, cwd: Path, *args: str, plugins: tuple[str, ...] = PLUGINS) -> subprocess.CompletedProcess:
    """`zoo ARGS` with only the named plugins of zoo-mistakes loaded (and all of zoo's own)."""
    left_out = ",".join(f"-{p}" for p in PLUGINS if p not in plugins)
    env = {**os.environ, "PYTHONPATH": str(site), "ZOO_PLUGINS": left_out, "ZOO_HOME": str(cwd / "home")}
    return subprocess.run([sys.executable, "-m", "zoo", *args], capture_output=True, text=True, env=env, cwd=cwd,
                          timeout=600)


def stderr_lines(result: subprocess.CompletedProcess, most: int = 3) -> list[str]:
    lines = result.stderr.strip().splitlines()
    assert "Traceback" not in result.stderr, result.stderr
    assert len(lines) <= most, result.stderr
    return lines


@pytest.fixture(scope="module")
def runs(site, tmp_path_factory):
    """One `zoo run` of the broken, misfit, preprocessing-layer and standardised models with a good one."""
    cwd = tmp_path_factory.mktemp("runs")
    result = zoo(site, cwd, "run", "broken_model", "misfit", "iris_mse", "iris_softmax_logits", "good_model", "iris_norm",
                 "iris_norm_given", "iris_standardized", "--out", "out",
                 plugins=("broken", "misfit", "normalized", "standardized"))
    return result, cwd / "out"


def run_error(runs, name: str) -> str:
    """The one line the run of the broken models said about ``name``."""
    result, _ = runs
    lines = [line for line in stderr_lines(result, most=5) if line.startswith(f"zoo: error: {name}: ")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_a_misspelled_hook_is_named_with_the_nearest_hook(site, tmp_path):
    result = zoo(site, tmp_path, "plugins", plugins=("typo",))
    assert result.returncode == 0
    assert stderr_lines(result) == ["zoo: warning: plugin 'typo' implements 'register_model', which is not a zoo "
                                    "hook. Did you mean 'register_models'? zoo never calls it"]
    row = next(line for line in result.stdout.splitlines() if line.startswith("typo "))
    assert "zoo-mistakes 0.3.1" in row and "failed" in row and "not a zoo hook" in row


def test_a_plugin_that_exits_at_import_is_one_warning(site, tmp_path):
    result = zoo(site, tmp_path, "list", "iris_*", "--json", plugins=("exits",))
    assert result.returncode == 0, result.stderr
    assert stderr_lines(result) == ["zoo: warning: plugin 'exits' failed to load: SystemExit(3): it called sys.exit(), "
                                    "which a plugin must not do; raise an exception instead"]
    assert "iris_mlp" in [row["name"] for row in json.loads(result.stdout)]


def test_a_custom_layer_declared_in_custom_objects_loads_in_a_new_process(site, tmp_path):
    """Registered with Keras inside build(), the layer is unknown to a new process until zoo loads the saved model
    with the spec's custom_objects; a model that forgets to declare it is told how, in one line."""
    trained = zoo(site, tmp_path, "run", "iris_custom", "iris_custom_undeclared", "--epochs", "1", "--out", "out",
                  plugins=("custom",))
    assert trained.returncode == 0, trained.stderr
    exported = zoo(site, tmp_path, "export", "iris_custom", "--out", "out", plugins=("custom",))
    assert exported.returncode == 0, exported.stderr
    refused = zoo(site, tmp_path, "report", "iris_custom_undeclared", "--out", "out", plugins=("custom",))
    assert refused.returncode == 1
    assert stderr_lines(refused)[0].endswith("model.keras: uses a class Keras does not know in this process (Doubler); "
                                             "declare it in the model's spec: custom_objects=lambda: {'Doubler': "
                                             "Doubler} (see docs/plugins.md: custom layers)")
    listed = zoo(site, tmp_path, "list", "iris_custom", "--json", plugins=("custom",))
    assert listed.returncode == 0 and "keras" not in listed.stderr


def test_every_implementation_of_a_hook_registers(site, tmp_path):
    result = zoo(site, tmp_path, "list", "two_*", "--json", plugins=("two_hooks",))
    assert result.returncode == 0 and stderr_lines(result) == []
    assert sorted(row["name"] for row in json.loads(result.stdout)) == ["two_large", "two_small"]


def test_a_build_that_raises_leaves_zoo_standing(site, tmp_path):
    listed = zoo(site, tmp_path, "list", plugins=("broken",))
    assert listed.returncode == 0
    warning = "zoo: warning: broken_model: build() of model 'broken_model' of plugin 'broken' (zoo-mistakes 0.3.1) "
    assert stderr_lines(listed) == [warning + "raised AttributeError: module 'keras.layers' has no attribute 'Dens'; "
                                              "fix the plugin, or leave it out with ZOO_PLUGINS=-broken"]
    rows = {line.split()[0]: line for line in listed.stdout.splitlines()[2:]}
    assert "build failed" in rows["broken_model"] and "mnist_cnn" in rows and "good_model" in rows

    as_json = zoo(site, tmp_path, "list", "--json", plugins=("broken",))
    cards = {card["name"]: card for card in json.loads(as_json.stdout)}
    assert as_json.returncode == 0 and "Dens" in cards["broken_model"]["build_error"] and len(cards) == 12

    info = zoo(site, tmp_path, "info", "broken_model", plugins=("broken",))
    assert info.returncode == 0 and "build failed: build() of model 'broken_model'" in info.stdout

    plugins = zoo(site, tmp_path, "plugins", plugins=("broken",))
    row = next(line for line in plugins.stdout.splitlines() if line.startswith("broken "))
    assert plugins.returncode == 0 and "failed" in row and "model broken_model (build failed)" in row
    assert "has no attribute 'Dens'" in plugins.stderr


def test_a_broken_model_is_reported_and_the_others_train(runs):
    result, out = runs
    assert result.returncode == 1
    assert run_error(runs, "broken_model").startswith(
        "zoo: error: broken_model: build() of model 'broken_model' of plugin 'broken' (zoo-mistakes 0.3.1) raised "
        "AttributeError")
    assert stderr_lines(result, most=5)[-1] == "zoo: error: 4 of 8 runs failed"
    for name in ("good_model", "iris_norm", "iris_norm_given", "iris_standardized"):
        assert (out / name / "model.onnx").is_file(), name
    assert not (out / "broken_model").exists()


def test_a_model_that_does_not_fit_its_data_is_said_in_one_line(runs):
    _, out = runs
    whose = "model '{}' of plugin 'misfit' (zoo-mistakes 0.3.1)"
    assert run_error(runs, "misfit") == (
        f"zoo: error: misfit: {whose.format('misfit')} outputs 2 values per sample, but its dataset needs 3 (one per "
        "class); expected a last layer of 3 units")
    assert run_error(runs, "iris_mse") == (
        f"zoo: error: iris_mse: {whose.format('iris_mse')} is a classifier trained on class indices with "
        "mean_squared_error, which would compare each index with every output; expected "
        "sparse_categorical_crossentropy (or one_hot=True with categorical_crossentropy)")
    assert run_error(runs, "iris_softmax_logits").startswith(
        f"zoo: error: iris_softmax_logits: {whose.format('iris_softmax_logits')} declares outputs='logits', but its "
        "outputs on two samples are probabilities")
    assert not (out / "misfit" / "report.json").exists() and (out / "good_model" / "report.json").exists()


def test_a_model_given_where_its_build_function_belongs(site, tmp_path):
    result = zoo(site, tmp_path, "run", "iris_called", plugins=("called",))
    lines = stderr_lines(result)
    assert result.returncode == 1
    assert lines[0] == ("zoo: warning: plugin 'called' raised in register_models: InvalidSpecError: model "
                        "'iris_called': build must be the function that makes the model, not a model: write "
                        "build=build, not build=build()")
    assert lines[1].startswith("zoo: error: unknown model 'iris_called'")


def test_a_newcomer_cannot_take_a_builtin_name(site, tmp_path):
    result = zoo(site, tmp_path, "list", "--json", plugins=("impostor",))
    assert result.returncode == 0
    assert stderr_lines(result) == [
        "zoo: warning: plugin 'impostor' registers model 'iris_mlp', which zoo's built-in plugin 'iris_mlp' (zoo "
        "keeps its own names) already has: refused. Rename it, or leave this plugin out with ZOO_PLUGINS=-impostor"]
    cards = {card["name"]: card for card in json.loads(result.stdout)}
    assert cards["iris_mlp"]["plugin"] == "iris_mlp" and cards["impostor_own"]["plugin"] == "impostor"


def test_preprocessing_layers_export_as_one_input_graphs(runs):
    _, out = runs
    for name in ("iris_norm", "iris_norm_given"):
        graph = onnx.load(out / name / "model.onnx").graph
        assert [i.name for i in graph.input] == ["features"], name
        report = json.loads((out / name / "report.json").read_text())
        assert report["onnx"]["validation"]["class_mismatches"] == 0
        assert report["metrics"]["accuracy"] > 0.6  # learned: chance is 1/3
        assert report["package"] == {"name": "zoo-mistakes", "version": "0.3.1"}


def test_an_export_that_fails_keeps_the_trained_run(site, tmp_path):
    result = zoo(site, tmp_path, "run", "iris_bins", "--epochs", "2", "--out", "out", plugins=("normalized",))
    lines = stderr_lines(result)
    assert result.returncode == 1 and len(lines) == 2
    assert "iris_bins: trained and saved to out/iris_bins, but the ONNX export failed: tf2onnx cannot convert " \
           "the TensorFlow op(s) Bucketize" in lines[0]
    assert lines[0].endswith("model.keras is saved and usable in Keras; an ONNX export needs a model without that "
                             "layer")  # retrying the same conversion cannot help
    report = json.loads((tmp_path / "out" / "iris_bins" / "report.json").read_text())
    assert "Bucketize" in report["onnx"]["failed"] and (tmp_path / "out" / "iris_bins" / "model.keras").is_file()

    again = zoo(site, tmp_path, "export", "iris_bins", "--out", "out", plugins=("normalized",))
    assert again.returncode == 1 and "Bucketize" in stderr_lines(again)[0]


def test_per_feature_preprocessing_travels_in_the_export(runs, tmp_path):
    from zoo.exports.predict import open_export

    _, out = runs
    export = open_export("iris_standardized", out)
    assert export.metadata.preprocess_scale == pytest.approx([1 / s for s in (0.83, 0.44, 1.77, 0.76)])
    assert export.metadata.preprocessing.startswith("per feature: x * (1.205, 2.273")
    rows = np.array([[6.3, 2.5, 5.0, 1.9], [5.1, 3.5, 1.4, 0.2]], dtype=np.float32)
    np.savetxt(tmp_path / "rows.csv", rows, delimiter=",", fmt="%.1f")
    consumer = subprocess.run([sys.executable, str(PACKAGE.parent.parent / "examples" / "onnx_consumer.py"),
                               str(out / "iris_standardized" / "model.onnx"), str(tmp_path / "rows.csv"), "--json"],
                              capture_output=True, text=True, timeout=120)
    assert consumer.returncode == 0, consumer.stderr
    classes = [row["class"] for row in json.loads(consumer.stdout)["predictions"]]
    assert classes == [export.metadata.class_names[i] for i in export.predict(rows).argmax(axis=1)]
    assert classes == ["virginica", "setosa"]
