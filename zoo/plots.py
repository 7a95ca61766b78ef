"""A run's figures as PNGs: what the tutorials show a learner, drawn for every entry.

Each figure function takes plain inputs (arrays, a history dict, class names) and writes
one PNG atomically. ``write_plots`` picks the figures that apply to a run from its data
and its model's layers alone, so a plugin's model gets them without plotting code of its own.

Figures are drawn with matplotlib's object-oriented API (``matplotlib.figure.Figure``
rendered by the Agg canvas): no pyplot, so no global backend is switched, no GUI is
needed, and a user's own pyplot state is left alone.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from zoo import files
from zoo.errors import ZooWarning
from zoo.probabilities import probabilities

if TYPE_CHECKING:
    import keras

    from zoo.run import Run

DPI = 100
GRID_IMAGES = 32  # test images in the predictions grid (4 rows of 8)
MISCLASSIFIED_SHOWN = 10
MAX_UNIT_MAPS = 512  # first-layer maps drawn; the notebook draws all 512 of its layer as 16 x 32
WRONG = "#c62828"  # misclassified images, wrong predictions
RIGHT = "#2e7d32"  # the true class in a probability chart
CURVE_POINTS = 400  # x values on which a 1-D fit is drawn
# The notebook's point is a fit made of a few curves; beyond this many the figure is a tangle, not a lesson.
MAX_UNIT_CURVES = 8


class PlotWarning(ZooWarning):
    """A figure could not be drawn; the run and its other files are still written."""


# --- figures: plain inputs in, one PNG out ---------------------------------------------------------

def training_curves(history: Mapping[str, Sequence[float | None]], dest: Path, title: str = "") -> Path:
    """Loss and each metric per epoch, training beside validation (``val_`` keys), one panel each."""
    keys = sorted((k for k in history if not k.startswith("val_")), key=lambda k: (k != "loss", k))  # loss first
    epochs = max((len(v) for v in history.values()), default=0)
    fig = Figure(figsize=(4.6 * len(keys), 3.6), layout="constrained")
    for ax, key in zip(np.atleast_1d(fig.subplots(1, len(keys))), keys):
        for name, label, style in ((key, "training", "-o"), (f"val_{key}", "validation", "--s")):
            values = np.array([np.nan if v is None else v for v in history.get(name, [])], dtype=float)
            if values.size:
                ax.plot(np.arange(1, values.size + 1), values, style, label=label, markersize=4)
        ax.set(title=key, xlabel="epoch", xlim=(0.5, epochs + 0.5))
        if epochs <= 12:  # whole epochs only: one tick each
            ax.set_xticks(range(1, epochs + 1))
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title or "training curves", wrap=True)
    return _save(fig, dest)


def confusion_matrix(matrix: np.ndarray, class_names: Sequence[str], dest: Path, title: str = "") -> Path:
    """Counts of true class (rows) against predicted class (columns), each cell labelled."""
    matrix = np.asarray(matrix)
    n = len(class_names)
    side = max(4.0, 0.45 * n + 2.0)
    fig = Figure(figsize=(side + 0.8, side), layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(matrix, cmap="Blues")
    ax.set(xticks=range(n), yticks=range(n), xlabel="predicted", ylabel="true")
    ax.set_xticklabels(class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels(class_names, fontsize=8)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), count in np.ndenumerate(matrix):
        ax.text(col, row, str(count), ha="center", va="center", fontsize=7,
                color="white" if count > threshold else "black")
    fig.colorbar(image, ax=ax, shrink=0.8)
    correct = int(np.trace(matrix)) if matrix.size else 0
    fig.suptitle(title or f"confusion matrix: {correct} of {int(matrix.sum())} test samples on the diagonal",
                 wrap=True)
    return _save(fig, dest)


def prediction_grid(images: np.ndarray, predicted: Sequence[int], truth: Sequence[int],
                    class_names: Sequence[str], dest: Path, title: str = "",
                    indices: Sequence[int] | None = None) -> Path:
    """Images with their predicted and true labels; misclassified ones in red with a red frame."""
    n = len(images)
    cols = min(8, n)
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(1.6 * cols, 1.85 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for i, ax in enumerate(axes):
        ax.set(xticks=[], yticks=[])
        if i >= n:
            ax.set_axis_off()
            continue
        _show_image(ax, images[i])
        wrong = predicted[i] != truth[i]
        number = f"#{indices[i]} " if indices is not None else ""
        ax.set_title(f"{number}pred {class_names[predicted[i]]}\ntrue {class_names[truth[i]]}", fontsize=8,
                     color=WRONG if wrong else "black")
        for spine in ax.spines.values():
            spine.set(color=WRONG if wrong else "#bbbbbb", linewidth=3 if wrong else 0.5)
    fig.suptitle(title or "predictions (red: misclassified)", wrap=True)
    return _save(fig, dest)


def probability_bars(probabilities: np.ndarray, class_names: Sequence[str], truth: Sequence[int], dest: Path,
                     images: np.ndarray | None = None, indices: Sequence[int] | None = None,
                     title: str = "") -> Path:
    """One row per example: its image (when it is one) and the bar chart of its class probabilities."""
    probabilities = np.atleast_2d(probabilities)
    rows, n = len(probabilities), len(class_names)
    cols = 1 if images is None else 2
    fig = Figure(figsize=(max(6.0, 0.45 * n + 3.0) + 2.4 * (cols - 1), 2.9 * rows + 0.5), layout="constrained")
    grid = fig.add_gridspec(rows, cols, width_ratios=[1, 3] if cols == 2 else [1])
    for row, probs in enumerate(probabilities):
        index = indices[row] if indices is not None else row
        predicted, true = int(np.argmax(probs)), int(truth[row])
        if images is not None:
            ax = fig.add_subplot(grid[row, 0])
            _show_image(ax, images[row])
            ax.set(xticks=[], yticks=[], title=f"test sample #{index}")
        ax = fig.add_subplot(grid[row, cols - 1])
        colours = ["#90a4ae"] * n
        colours[predicted] = WRONG if predicted != true else RIGHT
        if predicted != true:
            colours[true] = RIGHT
        bars = ax.bar(range(n), probs, color=colours)
        # Values on the bars: a near-zero bar, often the true class of a mistake, still reads.
        ax.bar_label(bars, labels=[f"{p:.0%}" if p >= 0.005 else "" for p in probs], fontsize=7, padding=1)
        slanted = n > 3 and max(len(str(c)) for c in class_names) > 2  # words slant; digits need not
        ax.set_xticks(range(n), class_names, rotation=30 if slanted else 0, ha="right" if slanted else "center",
                      fontsize=8)
        ax.get_xticklabels()[true].set(color=RIGHT, fontweight="bold")
        ax.set(ylim=(0, 1.05), ylabel="probability")
        ax.grid(axis="y", alpha=0.3)
        verdict = "right" if predicted == true else "wrong"
        ax.set_title(f"#{index}: true {class_names[true]}, predicted {class_names[predicted]} "
                     f"({probs[predicted]:.1%}, {verdict})", fontsize=10,
                     color="black" if predicted == true else WRONG)
    fig.suptitle(title or "class probabilities (green: the true class)", wrap=True)
    return _save(fig, dest)


def weight_maps(maps: np.ndarray, dest: Path, title: str, titles: Sequence[str] | None = None,
                shared_scale: bool = False) -> Path:
    """Weights drawn as images, one per unit, filter or class.

    With ``shared_scale`` every map uses one colour scale centred on zero (red positive,
    blue negative, with a colour bar, clipped at the 99th percentile), so maps can be compared; otherwise each map is
    stretched to its own grey range, as the notebook's ``imshow`` calls do. More than 64
    maps are drawn as one mosaic image, which keeps hundreds of them fast to render.
    """
    maps = np.asarray(maps, dtype=np.float32)
    if len(maps) > 64 and not shared_scale and titles is None:
        return _mosaic(maps, dest, title)
    n = len(maps)
    cols = math.ceil(n / math.ceil(n / math.ceil(math.sqrt(4 * n))))
    rows = math.ceil(n / cols)
    fig = Figure(figsize=(1.45 * cols + (0.9 if shared_scale else 0), 1.5 * rows + 0.6), layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    # A few extreme weights (pixels that are rarely lit keep large ones) would wash out the rest:
    # the shared scale ends at the 99th percentile of |weight|, and the colour bar says it is clipped.
    limit = float(np.percentile(np.abs(maps), 99)) or float(np.abs(maps).max()) or 1.0
    image = None
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i >= n:
            continue
        if shared_scale:
            image = ax.imshow(maps[i], cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        else:
            image = ax.imshow(_stretch(maps[i]), cmap="gray", interpolation="nearest")
        ax.set_title(titles[i] if titles is not None else str(i), fontsize=8)
    if shared_scale and image is not None:
        fig.colorbar(image, ax=list(axes), shrink=0.8, extend="both")
    fig.suptitle(title, fontsize=11, wrap=True)
    return _save(fig, dest)


def function_fit(x: np.ndarray, y: np.ndarray, grid: np.ndarray, fit: np.ndarray, dest: Path,
                 title: str = "") -> Path:
    """The test points against the fitted curve drawn on a dense grid of x."""
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    ax.scatter(x, y, s=8, alpha=0.45, color="#546e7a", label=f"test points ({len(x)})")
    ax.plot(grid, fit, color="#d84315", linewidth=2.2, label="the network's fit")
    ax.set(xlabel="x", ylabel="y")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.suptitle(title or "fit", wrap=True)
    return _save(fig, dest)


def unit_contributions(grid: np.ndarray, contributions: np.ndarray, bias: float, fit: np.ndarray,
                       dest: Path, title: str = "") -> Path:
    """Each last-hidden-layer unit times its output weight; with the bias they add up to the fit."""
    fig = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = fig.subplots()
    for k in range(contributions.shape[1]):
        ax.plot(grid, contributions[:, k], linewidth=1.6, label=f"unit {k + 1} × its weight")
    ax.axhline(bias, color="#757575", linestyle=":", label=f"bias {bias:+.3f}")
    ax.plot(grid, fit, color="black", linewidth=2.4, alpha=0.8, label="sum = the fit")
    ax.set(xlabel="x", ylabel="contribution to the output")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.suptitle(title or "the fit as a weighted sum of the last hidden layer's units", wrap=True)
    return _save(fig, dest)


def predicted_vs_true(truth: np.ndarray, predicted: np.ndarray, dest: Path, title: str = "",
                      targets: Sequence[str] = ()) -> Path:
    """Regression outputs against targets, with the diagonal a perfect model would sit on: one panel per target
    (a column of ``truth`` and ``predicted``), titled with its name from ``targets``."""
    truth = np.asarray(truth).reshape(len(truth), -1)
    predicted = np.asarray(predicted).reshape(len(predicted), -1)
    columns = truth.shape[1]
    per_row = min(columns, 3)
    rows = math.ceil(columns / per_row)
    fig = Figure(figsize=(4.8 if columns == 1 else 3.4 * per_row, 4.6 if columns == 1 else 3.4 * rows + 0.6),
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, per_row, squeeze=False).ravel())
    for column, ax in enumerate(axes):
        if column >= columns:
            ax.set_axis_off()
            continue
        true, guess = truth[:, column], predicted[:, column]
        ax.scatter(true, guess, s=8, alpha=0.5)
        low, high = float(min(true.min(), guess.min())), float(max(true.max(), guess.max()))
        ax.plot([low, high], [low, high], color="#757575", linestyle="--", label="predicted = true")
        name = targets[column] if column < len(targets) else (f"target {column}" if columns > 1 else "")
        ax.set(xlabel=f"true {name}".strip(), ylabel=f"predicted {name}".strip(), title=name or None)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title or "predicted against true", wrap=True)
    return _save(fig, dest)


# --- numbers behind the figures --------------------------------------------------------------------

def image_shape(x: np.ndarray) -> tuple[int, ...] | None:
    """The per-sample shape when raw samples are images (H×W, or H×W×1/3/4), else None."""
    shape = tuple(np.shape(x)[1:])
    if len(shape) == 2 or (len(shape) == 3 and shape[2] in (1, 3, 4)):
        return shape if min(shape[:2]) >= 8 else None
    return None


def as_images(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """``x`` reshaped to images of ``shape`` (a single channel dropped), or None if the sizes differ."""
    x = np.asarray(x)
    if x[0].size != math.prod(shape):
        return None
    images = x.reshape((len(x), *shape))
    return images[..., 0] if images.ndim == 4 and images.shape[-1] == 1 else images


@dataclass(frozen=True)
class Anatomy:
    """A 1-output network's fit split at its last layer: fit = contributions.sum(axis=1) + bias."""

    contributions: np.ndarray  # (points, units): each last-hidden-layer unit times its output weight
    bias: float
    fit: np.ndarray  # (points,): the model's own output


def anatomy(model: keras.Model, x: np.ndarray) -> Anatomy | None:
    """The contributions of the last hidden layer's units to ``model``'s output at inputs ``x``.

    Applies when the last layer is a linear Dense layer with one unit, so its output is
    exactly the weighted sum of its inputs plus the bias; otherwise None.
    """
    import keras

    last = model.layers[-1] if model.layers else None
    if not (isinstance(last, keras.layers.Dense) and last.units == 1 and len(model.layers) > 1
            and getattr(last.activation, "__name__", "") == "linear"):
        return None
    inputs = model.inputs  # a list; a one-input model is called with the bare array, so give it the bare tensor
    hidden = keras.Model(inputs[0] if len(inputs) == 1 else inputs, last.input)
    weights = last.get_weights()
    kernel = np.asarray(weights[0], dtype=np.float64)
    bias = float(weights[1][0]) if last.use_bias else 0.0
    units = _call(hidden, x)
    fit = _call(model, x)[:, 0]
    return Anatomy(units * kernel[:, 0], bias, fit)


def first_layer_maps(model: keras.Model, shape: tuple[int, ...]) -> np.ndarray | None:
    """The first layer's weights as one image per unit, when it is a Dense layer on the whole image.

    The kernel of such a layer has one row per pixel, so each unit's column is a
    picture of what it responds to (the notebook's ``reshape(weights[0][0], (28, 28, 512))``).
    """
    import keras

    first = next((layer for layer in model.layers if layer.weights), None)
    if not isinstance(first, keras.layers.Dense):
        return None
    kernel = np.asarray(first.get_weights()[0])
    return _grey(as_images(kernel.T, shape)) if kernel.shape[0] == math.prod(shape) else None


def aggregated_weights(model: keras.Model) -> np.ndarray | None:
    """The product of every Dense kernel, input to output (the notebook's ``W1 @ W2``).

    Applies to networks of Dense layers only (Flatten, Dropout and other weightless layers
    allowed) with two or more of them; activations and biases are left out, as in the notebook.
    """
    import keras

    weighted = [layer for layer in model.layers if layer.weights]
    if len(weighted) < 2 or not all(isinstance(layer, keras.layers.Dense) for layer in weighted):
        return None
    product = np.asarray(weighted[0].get_weights()[0], dtype=np.float64)
    for layer in weighted[1:]:
        product = product @ np.asarray(layer.get_weights()[0], dtype=np.float64)
    return product


def first_conv_filters(model: keras.Model) -> tuple[np.ndarray, str] | None:
    """The first 2-D convolution's kernels as images (filters, h, w[, 3]) and how they were reduced."""
    import keras

    first = next((layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)), None)
    if first is None:
        return None
    kernel = np.moveaxis(np.asarray(first.get_weights()[0]), -1, 0)  # (filters, h, w, in)
    if kernel.shape[-1] == 1:
        return kernel[..., 0], ""
    return kernel.mean(axis=-1), f", mean over its {kernel.shape[-1]} input channels"


# --- choosing the figures for a run ----------------------------------------------------------------

def write_plots(run: Run, folder: Path) -> dict[str, str]:
    """Draw every figure that applies to ``run`` into ``folder``.

    Returns {kind: path relative to the run's folder}, e.g. ``{"training_curves":
    "plots/training_curves.png"}``. A figure that fails is left out with a ``PlotWarning``,
    so a plotting problem never costs a finished training run.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}

    def draw(kind: str, figure: Callable[..., Path], *args, **kwargs) -> None:
        try:
            figure(*args, dest=folder / f"{kind}.png", **kwargs)
        except Exception as exc:  # any of numpy's, Keras' or matplotlib's errors
            warnings.warn(f"{run.spec.name}: could not draw {kind}: {type(exc).__name__}: {exc}", PlotWarning,
                          stacklevel=2)
        else:
            made[kind] = f"{folder.name}/{kind}.png"

    history = run.report.get("history") or {}
    if any(history.values()):
        draw("training_curves", training_curves, history, title=f"{run.spec.name}: loss and metrics per epoch")
    groups = [_classification_figures if run.spec.task == "classification" else _regression_figures,
              _weight_figures]
    for group in groups:
        try:
            group(run, draw)
        except Exception as exc:  # working out what to draw failed (an unusual model, say): skip that group
            warnings.warn(f"{run.spec.name}: could not draw the {group.__name__.strip('_').replace('_', ' ')}: "
                          f"{type(exc).__name__}: {exc}", PlotWarning, stacklevel=2)
    return made


def _classification_figures(run: Run, draw: Callable[..., None]) -> None:
    name, names = run.spec.name, list(run.dataset.class_names)
    truth = np.asarray(run.data.truth).astype(int)
    probs = probabilities(run.evaluation.outputs, run.spec.outputs)
    predicted = probs.argmax(axis=1)
    draw("confusion_matrix", confusion_matrix, run.evaluation.confusion, names,
         title=f"{name}: confusion matrix, {np.mean(predicted == truth):.2%} of {len(truth)} test samples right")
    shape = image_shape(run.splits.x_test)
    images = as_images(run.splits.x_test, shape) if shape else None
    wrong = np.flatnonzero(predicted != truth)
    examples = [0, *wrong[:1].tolist()] if wrong.size and wrong[0] != 0 else [0]
    note = "softmax of the model's logits" if run.spec.outputs == "logits" else "the model's softmax outputs"
    draw("prediction", probability_bars, probs[examples], names, truth[examples],
         images=None if images is None else images[examples], indices=examples,
         title=f"{name}: class probabilities ({note}); green: the true class, red: a wrong prediction")
    if images is None:
        return
    n = min(GRID_IMAGES, len(images))
    draw("test_predictions", prediction_grid, images[:n], predicted[:n], truth[:n], names, indices=range(n),
         title=f"{name}: the first {n} test images, predicted and true labels "
               f"({int(np.sum(predicted[:n] != truth[:n]))} misclassified, in red)")
    if wrong.size:
        shown = wrong[:MISCLASSIFIED_SHOWN]
        draw("misclassified", prediction_grid, images[shown], predicted[shown], truth[shown], names, indices=shown,
             title=f"{name}: {wrong.size} of {len(truth)} test images misclassified; the first {len(shown)}")
    for variant, x in run.data.test_variants.items():
        variant_images = as_images(x[:n], shape)
        if variant_images is None:
            continue
        variant_predicted = _call(run.model, x[:n]).argmax(axis=1)
        draw(f"test_predictions_{variant}", prediction_grid, variant_images, variant_predicted, truth[:n], names,
             indices=range(n), title=f"{name}: the same {n} images, {variant} (model input), "
                                     f"{int(np.sum(variant_predicted != truth[:n]))} misclassified")


def _regression_figures(run: Run, draw: Callable[..., None]) -> None:
    name = run.spec.name
    x, y = np.asarray(run.splits.x_test), np.asarray(run.data.truth).reshape(len(run.data.truth), -1)
    outputs = np.asarray(run.evaluation.outputs).reshape(len(y), -1)
    if x[0].size != 1 or y.shape[1] != 1:
        targets = [run.spec.target] if run.spec.target else list(run.dataset.target_names)
        draw("predicted_vs_true", predicted_vs_true, y, outputs, title=f"{name}: predicted against true (test split)",
             targets=targets)
        return
    every_x = np.concatenate([np.ravel(run.splits.x_train), np.ravel(x)])
    grid = np.linspace(every_x.min(), every_x.max(), CURVE_POINTS, dtype=np.float32)
    inputs = run.spec.preprocess(grid.reshape((len(grid), *x.shape[1:])))
    parts = anatomy(run.model, inputs)
    fit = parts.fit if parts is not None else _call(run.model, inputs).reshape(len(grid))
    target = f" {run.spec.target}" if run.spec.target else ""
    draw("fit", function_fit, np.ravel(x), np.ravel(y), grid, fit,
         title=f"{name}: test points of{target} and the network's fit")
    if parts is not None and parts.contributions.shape[1] <= MAX_UNIT_CURVES:
        draw("hidden_units", unit_contributions, grid, parts.contributions, parts.bias, parts.fit,
             title=f"{name}: the fit = Σ (unit × its weight) + bias,\n"
                   f"over the last hidden layer's {parts.contributions.shape[1]} units")


def _weight_figures(run: Run, draw: Callable[..., None]) -> None:
    name, model = run.spec.name, run.model
    shape = image_shape(run.splits.x_test)
    maps = first_layer_maps(model, shape) if shape else None
    names = list(run.dataset.class_names)
    size = "×".join(str(d) for d in (shape or ())[:2])
    if maps is not None:
        weighted = [layer for layer in model.layers if layer.weights]
        if len(weighted) == 1 and len(maps) == len(names):
            # A single layer maps pixels straight to classes: its weights are the per-class weights.
            draw("class_weights", weight_maps, maps, titles=names, shared_scale=True,
                 title=f"{name}: the weights of its one layer,\na {size} map per class (red +, blue −)")
        else:
            shown = maps[:MAX_UNIT_MAPS]
            more = f" (the first {len(shown)} of {len(maps)})" if len(maps) > len(shown) else ""
            draw("first_layer_weights", weight_maps, shown,
                 title=f"{name}: first-layer weights, a {size} map per unit{more}, each on its own grey scale")
            product = aggregated_weights(model)
            if product is not None and product.shape[1] == len(names):
                draw("class_weights", weight_maps, _grey(as_images(product.T, shape)), titles=names, shared_scale=True,
                     title=f"{name}: aggregated weights, a {size} map per class (red +, blue −):\n"
                           f"its {len(weighted)} layers' weight matrices multiplied, activations and biases left out")
    filters = first_conv_filters(model)
    if filters is not None:
        kernels, reduced = filters
        draw("conv_filters", weight_maps, kernels,
             title=f"{name}: the first conv layer's {len(kernels)} filters, "
                   f"{kernels.shape[1]}×{kernels.shape[2]}{reduced}, each on its own grey scale")


# --- drawing helpers -------------------------------------------------------------------------------

def _call(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """``model``'s outputs for a few hundred inputs, computed eagerly.

    ``predict`` would compile a function for each new model and input size, which costs more
    than these small batches do and makes TensorFlow warn about retracing.
    """
    import keras

    return np.asarray(keras.ops.convert_to_numpy(model(x, training=False)), dtype=np.float64)


def _save(fig: Figure, dest: Path, grey: bool = False) -> Path:
    """Render ``fig`` with Agg and write it to ``dest`` atomically; ``grey`` stores one 8-bit channel."""
    dest = Path(dest)
    canvas = FigureCanvasAgg(fig)  # attaches the Agg canvas; no pyplot figure manager is involved
    with files.atomic_path(dest) as tmp:
        if grey:  # a grey figure in RGBA is four times the pixels to compress: ~3x larger files
            from PIL import Image  # matplotlib's own dependency

            canvas.draw()
            Image.fromarray(np.asarray(canvas.buffer_rgba())).convert("L").save(tmp, format="png", optimize=True)
        else:
            # No "Software" stamp: the same run draws byte-identical files whatever matplotlib's version.
            fig.savefig(tmp, format="png", dpi=DPI, metadata={"Software": None})
    return dest


def _show_image(ax, image: np.ndarray) -> None:
    """One sample image: raw 8-bit values on a fixed 0–255 scale, anything else stretched to its range."""
    image = np.asarray(image)
    if image.ndim == 3:  # colour: imshow wants 0..1 floats or 8-bit integers
        ax.imshow(image if image.dtype == np.uint8 else _stretch(image))
    elif image.dtype == np.uint8:
        ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    else:
        ax.imshow(image, cmap="gray")


def _grey(maps: np.ndarray | None) -> np.ndarray | None:
    """Weight maps of colour images as one map per unit: the mean over the colour channels."""
    return maps.mean(axis=-1) if maps is not None and maps.ndim == 4 else maps


def _stretch(image: np.ndarray) -> np.ndarray:
    """``image`` linearly mapped to 0..1 (a constant image to 0.5)."""
    image = np.asarray(image, dtype=np.float32)
    low, high = float(image.min()), float(image.max())
    return (image - low) / (high - low) if high > low else np.full_like(image, 0.5)


def _mosaic(maps: np.ndarray, dest: Path, title: str, scale: float = 1.5) -> Path:
    """Many small maps as one image, each stretched to its own range, one blank pixel between them."""
    n, height, width = maps.shape[:3]
    cols = math.ceil(math.sqrt(2 * n))  # twice as wide as tall: 16 rows of 32 for 512 maps, as the notebook
    rows = math.ceil(n / cols)
    mosaic = np.full((rows * (height + 1) - 1, cols * (width + 1) - 1), np.nan, dtype=np.float32)
    for i, image in enumerate(maps):
        row, col = divmod(i, cols)
        mosaic[row * (height + 1):row * (height + 1) + height, col * (width + 1):col * (width + 1) + width] = \
            _stretch(image)
    title_inches = 0.45
    fig = Figure(figsize=(mosaic.shape[1] * scale / DPI, mosaic.shape[0] * scale / DPI + title_inches))
    ax = fig.add_axes((0, 0, 1, 1 - title_inches / fig.get_figheight()))
    ax.set_axis_off()
    import matplotlib

    cmap = matplotlib.colormaps["gray"].with_extremes(bad="white")
    ax.imshow(mosaic, cmap=cmap, vmin=0, vmax=1, interpolation="nearest", aspect="auto")
    fig.suptitle(title, fontsize=11, y=1 - 0.08 / fig.get_figheight(), wrap=True)
    return _save(fig, dest, grey=True)
