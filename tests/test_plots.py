"""Figures: each one drawn from plain inputs, the set each kind of entry gets, and how reports show them."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import keras
import numpy as np
import pytest

from pngs import assert_png
from zoo.probabilities import softmax
from zoo import plots

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.filterwarnings("error::zoo.plots.PlotWarning")  # a figure that fails fails its test

COMMON = {"training_curves"}
CLASSIFIER = COMMON | {"confusion_matrix", "prediction"}
IMAGES = CLASSIFIER | {"test_predictions"}
# What each kind of entry must get, and what it must not.
EXPECTED = {
    "fashion_linear": (IMAGES | {"class_weights"}, {"first_layer_weights", "conv_filters", "fit"}),
    "mnist_mlp": (IMAGES | {"first_layer_weights", "class_weights"}, {"conv_filters", "fit"}),
    "mnist_cnn_inverted": (IMAGES | {"conv_filters", "test_predictions_inverted"},
                           {"first_layer_weights", "class_weights"}),
    "iris_mlp": (CLASSIFIER, {"test_predictions", "first_layer_weights", "conv_filters", "fit"}),
    "fn_square": (COMMON | {"fit", "hidden_units"}, {"confusion_matrix", "prediction", "test_predictions"}),
}


# --- each figure from plain inputs ------------------------------------------------------------------

def test_training_curves(tmp_path):
    history = {"loss": [0.9, 0.5, 0.4], "accuracy": [0.6, 0.8, 0.85], "val_loss": [0.7, 0.6, None],
               "val_accuracy": [0.7, 0.75, 0.8]}
    assert_png(plots.training_curves(history, tmp_path / "curves.png"))
    assert_png(plots.training_curves({"loss": [1.0]}, tmp_path / "one.png"))  # one epoch: points, not lines


def test_confusion_matrix(tmp_path):
    matrix = np.array([[50, 2, 0], [3, 40, 7], [0, 5, 45]])
    assert_png(plots.confusion_matrix(matrix, ["setosa", "versicolor", "virginica"], tmp_path / "cm.png"))


def test_prediction_grid_and_bars(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, size=(12, 28, 28), dtype=np.uint8)
    predicted, truth = np.arange(12) % 10, (np.arange(12) + (np.arange(12) % 3 == 0)) % 10
    names = [f"class {i}" for i in range(10)]
    assert_png(plots.prediction_grid(images, predicted, truth, names, tmp_path / "grid.png", indices=range(12)))
    probs = softmax(rng.normal(size=(2, 10)) * 3)
    assert_png(plots.probability_bars(probs, names, [3, 4], tmp_path / "bars.png", images=images[:2]))
    assert_png(plots.probability_bars(probs[:1, :3] / probs[:1, :3].sum(), names[:3], [0], tmp_path / "tab.png"))


def test_a_long_title_wraps_inside_the_figure(tmp_path):
    """A classifier's probability chart has a long title on a narrow figure: it must not run off either edge."""
    from PIL import Image

    title = ("iris_mlp: class probabilities (the model's softmax outputs); green: the true class, red: a wrong "
             "prediction")
    path = plots.probability_bars(np.array([[0.1, 0.85, 0.05]]), ["setosa", "versicolor", "virginica"], [1],
                                  tmp_path / "bars.png", title=title)
    pixels = np.asarray(Image.open(path).convert("L"))
    band = pixels[:30]  # the title's first line
    assert band.min() < 128  # the title is there
    assert band[:, :2].min() > 240 and band[:, -2:].min() > 240  # and does not touch either edge


def test_weight_maps_few_and_many(tmp_path):
    rng = np.random.default_rng(0)
    assert_png(plots.weight_maps(rng.normal(size=(10, 28, 28)), tmp_path / "classes.png", "per class",
                                 titles=[str(i) for i in range(10)], shared_scale=True))
    # 512 maps: one mosaic, 16 rows of 32 as in the notebook, fast to draw.
    width, height = assert_png(plots.weight_maps(rng.normal(size=(512, 28, 28)), tmp_path / "units.png", "units"))
    assert width > 1.8 * height


def test_fit_contributions_and_scatter(tmp_path):
    grid = np.linspace(-3, 3, 50)
    parts = np.stack([np.maximum(grid, 0), np.maximum(-grid, 0)], axis=1)
    assert_png(plots.function_fit(grid, grid ** 2, grid, parts.sum(1), tmp_path / "fit.png"))
    assert_png(plots.unit_contributions(grid, parts, 0.1, parts.sum(1) + 0.1, tmp_path / "units.png"))
    assert_png(plots.predicted_vs_true(grid, grid + 0.1, tmp_path / "scatter.png"))


def test_a_two_target_regression_gets_a_labelled_panel_per_target(tmp_path):
    from PIL import Image

    truth = np.stack([np.linspace(0, 1, 40), np.linspace(5, 9, 40)], axis=1)
    one = plots.predicted_vs_true(truth[:, :1], truth[:, :1] + 0.1, tmp_path / "one.png")
    two = plots.predicted_vs_true(truth, truth + 0.1, tmp_path / "two.png", targets=["sin", "abs"])
    assert_png(two)
    with Image.open(one) as a, Image.open(two) as b:
        assert b.size[0] > 1.3 * a.size[0]  # two panels side by side, not one shared scatter


def test_softmax_and_image_detection():
    probs = softmax(np.array([[1000.0, 1000.0], [0.0, np.log(3.0)]]))
    np.testing.assert_allclose(probs, [[0.5, 0.5], [0.25, 0.75]])
    assert plots.image_shape(np.zeros((5, 28, 28))) == (28, 28)
    assert plots.image_shape(np.zeros((5, 32, 32, 3))) == (32, 32, 3)
    assert plots.image_shape(np.zeros((5, 4))) is None and plots.image_shape(np.zeros((5, 1))) is None
    assert plots.as_images(np.zeros((3, 784)), (28, 28)).shape == (3, 28, 28)
    assert plots.as_images(np.zeros((3, 28, 28, 1)), (28, 28)).shape == (3, 28, 28)
    assert plots.as_images(np.zeros((3, 10)), (28, 28)) is None


def test_contributions_add_up_to_the_fit():
    """The last hidden layer's units times their output weights, plus the bias, are the model's output."""
    from zoo_plugins.models.function_fits import build

    keras.utils.set_random_seed(3)
    model = build()
    x = np.linspace(-3, 3, 101, dtype=np.float32).reshape(-1, 1)
    parts = plots.anatomy(model, x)
    assert parts is not None and parts.contributions.shape == (101, 3)
    np.testing.assert_allclose(parts.contributions.sum(axis=1) + parts.bias, parts.fit, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(parts.fit, model.predict(x, verbose=0)[:, 0], rtol=1e-6, atol=1e-6)
    # Not a linear single-output last layer: no anatomy.
    softmax_net = keras.Sequential([keras.Input((1,)), keras.layers.Dense(4), keras.layers.Dense(2, "softmax")])
    assert plots.anatomy(softmax_net, x) is None


def test_aggregated_weights_are_the_product_of_the_kernels():
    net = keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(6),
                            keras.layers.Dropout(0.1), keras.layers.Dense(4), keras.layers.Dense(3)])
    kernels = [layer.get_weights()[0].astype(np.float64) for layer in net.layers if layer.weights]
    np.testing.assert_allclose(plots.aggregated_weights(net), kernels[0] @ kernels[1] @ kernels[2], rtol=1e-5)
    assert plots.first_layer_maps(net, (28, 28)).shape == (6, 28, 28)
    cnn = keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                            keras.layers.Dense(3)])
    assert plots.aggregated_weights(cnn) is None and plots.first_layer_maps(cnn, (28, 28)) is None
    filters, note = plots.first_conv_filters(cnn)
    assert filters.shape == (4, 3, 3) and note == ""


# --- the figures each kind of entry gets ------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_kind_of_entry_gets_its_figures(trained_runs, name):
    folder = trained_runs / name
    report = json.loads((folder / "report.json").read_text())
    must, must_not = EXPECTED[name]
    made = set(report["plots"])
    assert must <= made, f"missing {must - made}"
    assert not made & must_not, f"not applicable yet drawn: {made & must_not}"
    assert report["plots"] == {kind: f"plots/{kind}.png" for kind in made}
    for path in report["plots"].values():
        assert_png(folder / path)
    assert sorted(p.name for p in (folder / "plots").iterdir()) == sorted(f"{kind}.png" for kind in made)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_report_embeds_every_plot(trained_runs, name):
    folder = trained_runs / name
    report = json.loads((folder / "report.json").read_text())
    markdown = (folder / "report.md").read_text()
    linked = re.findall(r"^!\[[^\]]*\]\(([^)]+)\)$", markdown, flags=re.M)
    assert linked == list(report["plots"].values())
    # Under the numbers: after the result table, before the training settings.
    assert markdown.index("## Result") < markdown.index("## Plots") < markdown.index("## Training")
    page = (folder / "report.html").read_text()
    assert re.findall(r'<img src="([^"]+)"', page) == linked
    assert '<h2 id="plots">Plots</h2>' in page and "<table>" in page


def test_function_fit_of_a_trained_entry_adds_up(trained_runs):
    from zoo.run import load_run

    run = load_run("fn_square", trained_runs)
    x = run.spec.preprocess(np.linspace(-3, 3, 64, dtype=np.float32).reshape(-1, 1))
    parts = plots.anatomy(run.model, x)
    np.testing.assert_allclose(parts.contributions.sum(axis=1) + parts.bias, parts.fit, rtol=1e-5, atol=1e-5)


def test_a_third_party_model_gets_the_figures_that_apply(tmp_path, tiny_data):
    """A plugin's dense image network, and a tabular one, with no plotting code of their own."""
    import zoo
    import zoo_plugins.datasets.mnist
    from plugin_fakes import DatasetPlugin, ModelPlugin, source, tiny_model
    from zoo.plugins import build_registry
    from zoo.run import RunOptions, run_model

    def build():
        return keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(24, "relu"),
                                 keras.layers.Dense(12, "relu"), keras.layers.Dense(10, "softmax")])

    deep = zoo.ModelSpec(name="deep_mlp", dataset="mnist", build=build, description="three dense layers",
                         tutorial=zoo.Tutorial("test", "tests"), reference=zoo.Reference("accuracy", None),
                         compile=zoo.CompileSettings(), fit=zoo.FitSettings(epochs=1, batch_size=32))
    registry = build_registry([source("mnist", zoo_plugins.datasets.mnist), source("data", DatasetPlugin()),
                               source("net", ModelPlugin(deep, tiny_model()))])
    options = RunOptions(epochs=1, data_dir=tiny_data, out=tmp_path, verbose=0)
    made = set(run_model("deep_mlp", options, registry).report["plots"])
    assert IMAGES | {"first_layer_weights", "class_weights"} <= made and "conv_filters" not in made
    made = set(run_model("tiny_net", options, registry).report["plots"])
    assert made == CLASSIFIER


def test_a_figure_that_fails_is_left_out_with_a_warning(trained_runs, tmp_path, monkeypatch):
    from zoo.run import load_run

    run = load_run("iris_mlp", trained_runs)
    monkeypatch.setattr(plots, "confusion_matrix", lambda *a, **k: 1 / 0)
    with pytest.warns(plots.PlotWarning, match="iris_mlp: could not draw confusion_matrix: ZeroDivisionError"):
        made = plots.write_plots(run, tmp_path / "plots")
    assert "confusion_matrix" not in made and {"training_curves", "prediction"} <= set(made)


def test_zoo_report_name_redraws_an_earlier_run(trained_runs, tmp_path, capsys):
    from zoo.cli import main

    out = tmp_path / "exports"
    shutil.copytree(trained_runs / "fn_square", out / "fn_square")
    folder = out / "fn_square"
    model_bytes = (folder / "model.keras").read_bytes()
    (folder / "plots" / "fit.png").unlink()
    (folder / "plots" / "stale.png").write_bytes(b"left by an older zoo")
    report = json.loads((folder / "report.json").read_text())
    del report["plots"]  # as a report written before zoo drew plots
    (folder / "report.json").write_text(json.dumps(report))

    assert main(["report", "fn_square", "--out", str(out)]) == 0
    assert "fn_square: 3 plots" in capsys.readouterr().out
    again = json.loads((folder / "report.json").read_text())
    assert set(again["plots"]) == {"training_curves", "fit", "hidden_units"}
    assert sorted(p.name for p in (folder / "plots").iterdir()) == ["fit.png", "hidden_units.png",
                                                                     "training_curves.png"]
    assert_png(folder / "plots" / "fit.png")
    assert "![fit](plots/fit.png)" in (folder / "report.md").read_text()
    assert again["metrics"] == report["metrics"]  # rewritten, not re-measured
    assert (folder / "model.keras").read_bytes() == model_bytes
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # the staging folder is gone

    assert main(["report", "fn_sin", "--out", str(out)]) == 1
    assert "zoo: error: fn_sin: no finished run of 'fn_sin'" in capsys.readouterr().err


# --- the committed exports ---------------------------------------------------------------------------

def committed_entries() -> list[Path]:
    return sorted(p.parent for p in (REPO / "reference").glob("*/report.json") if not p.parent.name.startswith("."))


def test_committed_exports_have_their_plots():
    """After `zoo run --all`, every entry in exports/ has its figures, valid and non-blank, linked from report.md."""
    entries = committed_entries()
    if not entries:
        pytest.skip("exports/ has no runs yet (zoo run --all writes them)")
    for folder in entries:
        report = json.loads((folder / "report.json").read_text())
        assert report.get("plots"), f"{folder.name}: no plots; run 'zoo report {folder.name}'"
        needed = COMMON | (CLASSIFIER if report["task"] == "classification" else set())
        assert needed <= set(report["plots"]), f"{folder.name}: missing {needed - set(report['plots'])}"
        markdown = (folder / "report.md").read_text()
        for path in report["plots"].values():
            assert_png(folder / path)
            assert f"]({path})" in markdown
