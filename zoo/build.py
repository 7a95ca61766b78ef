"""Building a plugin's model and checking, before any training, that it fits its data.

A plugin author's mistake (a typo that makes ``build()`` raise, a classifier with the wrong
number of outputs, a loss that does not match the outputs) is caught here and said in one
line that names the model, the plugin, what was expected and what it got, instead of surfacing
as a long traceback from inside TensorFlow at the first training step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from zoo.errors import InvalidSpecError, ZooError, first_line
from zoo.precision import FLOAT32, building_under
from zoo.specs import ModelSpec

if TYPE_CHECKING:
    import keras

    from zoo.prepare import Prepared
    from zoo.registry import PluginInfo

CROSSENTROPY = {"sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy"}
REGRESSION_LOSSES = {"mean_squared_error", "mse", "mean_absolute_error", "mae", "huber", "log_cosh",
                     "mean_squared_logarithmic_error", "mean_absolute_percentage_error"}


class BuildError(ZooError):
    """A plugin's ``build()`` raised, or returned something that is not a Keras model."""


class FitError(InvalidSpecError):
    """A model that cannot train on its dataset as declared (shapes, outputs, loss)."""


def _whose(spec: ModelSpec, plugin: PluginInfo | None) -> str:
    return f"model {spec.name!r} of {plugin.describe()}" if plugin else f"model {spec.name!r}"


def _first_line(exc: BaseException) -> str:
    return first_line(exc, 300)


def build_model(spec: ModelSpec, plugin: PluginInfo | None = None) -> keras.Model:
    """``spec.build()``, with any exception turned into one line naming the plugin and how to leave it out."""
    import keras

    try:
        model = spec.build()
    except (Exception, SystemExit) as exc:  # a plugin's code can raise anything, sys.exit() included
        leave_out = f", or leave it out with ZOO_PLUGINS=-{plugin.name}" if plugin and not plugin.builtin else ""
        raise BuildError(f"build() of {_whose(spec, plugin)} raised {_first_line(exc)}; fix the plugin"
                         f"{leave_out}") from exc
    if not isinstance(model, keras.Model):
        raise BuildError(f"build() of {_whose(spec, plugin)} returned {type(model).__name__}, not a keras.Model")
    return model


def compile_model(spec: ModelSpec, plugin: PluginInfo | None = None, precision: str = FLOAT32) -> keras.Model:
    """A fresh model built and compiled as ``spec`` says, its layers computing in ``precision``
    (``zoo.precision``: float32, or mixed_bfloat16 with float32 weights)."""
    import keras

    with building_under(precision):
        model = build_model(spec, plugin)
    try:
        model.compile(optimizer=keras.optimizers.get(spec.compile.optimizer),
                      loss=keras.losses.get(spec.compile.loss), metrics=list(spec.compile.metrics))
    except Exception as exc:  # an unknown optimizer, loss or metric name
        raise BuildError(f"{_whose(spec, plugin)}: its compile settings are not usable "
                         f"({_first_line(exc)}); give Keras names or {{'class_name', 'config'}} dicts") from exc
    return model


def check_data(spec: ModelSpec, raw_samples: np.ndarray, plugin: PluginInfo | None = None) -> None:
    """Raise FitError when ``spec`` cannot take these raw samples: not numbers, or a shape its declared
    preprocessing does not fit."""
    raw_samples = np.asarray(raw_samples)
    if raw_samples.dtype.kind not in "biuf":
        raise FitError(f"{_whose(spec, plugin)}: its dataset's samples are {raw_samples.dtype} values (text or "
                       "objects), not numbers; zoo trains and exports numeric inputs only, since an export must run "
                       "with onnxruntime alone: map each word to an integer token id in the dataset's load() (a "
                       "fixed vocabulary) and start the model with keras.layers.Embedding")
    problem = spec.preprocess.feature_problem(tuple(raw_samples.shape[1:]))
    if problem:
        raise FitError(f"{_whose(spec, plugin)}: {problem}")


def check_fits(spec: ModelSpec, model: keras.Model, data: Prepared, plugin: PluginInfo | None = None) -> None:
    """Raise FitError, in one line, when ``model`` cannot train on ``data`` as ``spec`` declares.

    Checked: the model's declared input shape against the preprocessed samples; that it runs on two
    of them; its output width against the classes or targets; the loss against the outputs and
    labels; and that declared probabilities are probabilities.
    """
    whose = _whose(spec, plugin)
    sample = tuple(data.x_train.shape[1:])
    declared = _declared_input(model)
    if declared is not None and not _compatible(declared, sample):
        raise FitError(f"{whose} takes inputs of shape {declared} per sample, but the preprocessed samples have "
                       f"shape {sample}; expected an input of {sample} (or preprocess=zoo.Preprocess(shape=...) "
                       "to reshape the data)")
    import keras

    try:  # convert_to_numpy, not np.asarray: a torch output that requires grad refuses plain numpy()
        outputs = keras.ops.convert_to_numpy(model(data.x_train[:2], training=False))
    except Exception as exc:  # the model cannot take the data at all
        raise FitError(f"{whose} cannot run on samples of shape {sample}: {_first_line(exc)}") from exc
    # A mixed-precision model answers in bfloat16, whose 8-bit mantissa leaves a softmax's sum ~0.5% off 1.
    tolerance = 1e-3 if outputs.dtype.itemsize >= 4 else 2e-2
    outputs = outputs.astype(np.float32)
    _check_width(spec, whose, outputs, data)
    _check_loss(spec, whose)
    if np.isfinite(outputs).all():  # NaN data is training's to report
        _check_output_kind(spec, whose, outputs, tolerance)
    _check_step_runs(spec, whose, model, data)


def _declared_input(model: keras.Model) -> tuple | None:
    try:
        shape = model.input_shape
    except (AttributeError, ValueError):  # a subclassed model not built yet, or several inputs
        return None
    return tuple(shape[1:]) if isinstance(shape, tuple) else None


def _compatible(declared: tuple, sample: tuple) -> bool:
    return len(declared) == len(sample) and all(d is None or d == s for d, s in zip(declared, sample))


def _check_width(spec: ModelSpec, whose: str, outputs: np.ndarray, data: Prepared) -> None:
    got, n_outputs = outputs.shape[1:], data.n_outputs
    if n_outputs is None or got == (n_outputs,):
        return
    what = "one per class" if spec.task == "classification" else "one per target"
    shown = _values(got[0]) if len(got) == 1 else f"values of shape {got}"
    fix = f"expected a last layer of {n_outputs} units"
    if spec.task == "regression" and spec.target is None and got == (1,) and len(data.dataset_targets) > 1:
        fix += f", or fit one target with target= one of {', '.join(map(repr, data.dataset_targets))}"
    raise FitError(f"{whose} outputs {shown} per sample, but its dataset needs {n_outputs} ({what}); {fix}")


def _values(n: int) -> str:
    return f"{n} value" if n == 1 else f"{n} values"


def _check_output_kind(spec: ModelSpec, whose: str, outputs: np.ndarray, tolerance: float = 1e-3) -> None:
    """Declared probabilities must be probabilities; declared logits must not already be (a softmax layer)."""
    rows = outputs.reshape(len(outputs), -1)
    sums = rows.sum(axis=1)
    distributions = (rows.min() >= -1e-6 and rows.max() <= 1 + tolerance
                     and np.allclose(sums, 1.0, atol=tolerance))
    if spec.outputs == "probabilities" and not distributions:
        raise FitError(f"{whose} declares outputs='probabilities', but its outputs on two samples sum to "
                       f"{', '.join(f'{s:.3g}' for s in sums)}, not 1; expected a softmax last layer, or "
                       "declare outputs='logits' with a from_logits loss")
    if spec.outputs == "logits" and rows.shape[1] > 1 and distributions:
        raise FitError(f"{whose} declares outputs='logits', but its outputs on two samples are probabilities "
                       "(each row sums to 1: a softmax last layer); declare outputs='probabilities' with a loss "
                       "that has from_logits=False, or drop the softmax")


def _check_step_runs(spec: ModelSpec, whose: str, model: keras.Model, data: Prepared) -> None:
    """One evaluation step on two samples: the compiled loss and metrics against the labels, as training
    computes them (``mse`` or ``accuracy`` on mismatched shapes fail here, not deep inside a training loop)."""
    try:
        model.test_on_batch(data.x_train[:2], data.y_train[:2])
    except Exception as exc:  # any backend's shape or type error
        raise FitError(f"{whose}: its loss or metrics cannot compare its outputs with the labels "
                       f"(shape {data.y_train.shape[1:] or '()'} per sample): {_first_line(exc)}; check "
                       "CompileSettings against one_hot and the output kind") from exc


def _check_loss(spec: ModelSpec, whose: str) -> None:
    name, from_logits = _loss_facts(spec.compile.loss)
    if spec.task == "classification" and not spec.one_hot and name in REGRESSION_LOSSES:
        raise FitError(f"{whose} is a classifier trained on class indices with {name}, which would compare each "
                       "index with every output; expected sparse_categorical_crossentropy (or one_hot=True with "
                       "categorical_crossentropy)")
    if name not in CROSSENTROPY:
        return
    if spec.outputs == "values":
        raise FitError(f"{whose} fits values (regression) with {name}; expected a regression loss such as 'mse'")
    if spec.outputs == "probabilities" and from_logits:
        raise FitError(f"{whose} outputs probabilities, but its loss {name} has from_logits=True; expected "
                       "from_logits=False, or declare outputs='logits'")
    if spec.outputs == "logits" and not from_logits:
        raise FitError(f"{whose} outputs logits, but its loss {name} expects probabilities; expected "
                       "from_logits=True in the loss's config")
    if spec.one_hot and name == "sparse_categorical_crossentropy":
        raise FitError(f"{whose} trains on one-hot labels (one_hot=True) with {name}; expected "
                       "categorical_crossentropy")
    if not spec.one_hot and name == "categorical_crossentropy":
        raise FitError(f"{whose} trains on class indices with categorical_crossentropy; expected "
                       "sparse_categorical_crossentropy, or one_hot=True")


def _loss_facts(loss) -> tuple[str, bool]:
    """The loss's snake_case name and whether it takes logits."""
    import re

    import keras

    resolved = keras.losses.get(loss)
    config = resolved.get_config() if hasattr(resolved, "get_config") else {}
    name = config.get("name") or getattr(resolved, "__name__", type(resolved).__name__)
    name = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower() if name[:1].isupper() else name
    return name, bool(config.get("from_logits", False))
