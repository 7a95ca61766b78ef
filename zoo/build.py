"""Building a plugin's model and checking, before any training, that it fits its data.

A plugin author's mistake (a typo that makes ``build()`` raise, a classifier with the wrong
number of outputs, a loss that does not match the outputs) is caught here and said in one
line that names the model, the plugin, what was expected and what it got, instead of surfacing
as a long traceback from inside TensorFlow at the first training step.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from zoo.errors import InvalidSpecError, ZooError
from zoo.specs import ModelSpec

if TYPE_CHECKING:
    import keras

    from zoo.prepare import Prepared
    from zoo.registry import PluginInfo

CROSSENTROPY = {"sparse_categorical_crossentropy", "categorical_crossentropy", "binary_crossentropy"}


class BuildError(ZooError):
    """A plugin's ``build()`` raised, or returned something that is not a Keras model."""


class FitError(InvalidSpecError):
    """A model that cannot train on its dataset as declared (shapes, outputs, loss)."""


def _whose(spec: ModelSpec, plugin: PluginInfo | None) -> str:
    return f"model {spec.name!r} of {plugin.describe()}" if plugin else f"model {spec.name!r}"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0][:300]}" if text else type(exc).__name__


def build_model(spec: ModelSpec, plugin: PluginInfo | None = None) -> keras.Model:
    """``spec.build()``, with any exception turned into one line naming the plugin and how to leave it out."""
    import keras

    try:
        model = spec.build()
    except Exception as exc:  # a plugin's code can raise anything
        leave_out = f", or leave it out with ZOO_PLUGINS=-{plugin.name}" if plugin and not plugin.builtin else ""
        raise BuildError(f"build() of {_whose(spec, plugin)} raised {_first_line(exc)}; fix the plugin"
                         f"{leave_out}") from exc
    if not isinstance(model, keras.Model):
        raise BuildError(f"build() of {_whose(spec, plugin)} returned {type(model).__name__}, not a keras.Model")
    return model


def compile_model(spec: ModelSpec, plugin: PluginInfo | None = None) -> keras.Model:
    """A fresh model built and compiled as ``spec`` says."""
    import keras

    model = build_model(spec, plugin)
    try:
        model.compile(optimizer=keras.optimizers.get(spec.compile.optimizer),
                      loss=keras.losses.get(spec.compile.loss), metrics=list(spec.compile.metrics))
    except Exception as exc:  # an unknown optimizer, loss or metric name
        raise BuildError(f"{_whose(spec, plugin)}: its compile settings are not usable "
                         f"({_first_line(exc)}); give Keras names or {{'class_name', 'config'}} dicts") from exc
    return model


def check_data(spec: ModelSpec, raw_sample_shape: tuple[int, ...], plugin: PluginInfo | None = None) -> None:
    """Raise FitError when ``spec``'s declared preprocessing does not fit raw samples of this shape."""
    problem = spec.preprocess.feature_problem(tuple(raw_sample_shape))
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
    _check_width(spec, whose, outputs, data.n_outputs)
    _check_loss(spec, whose)
    if spec.outputs == "probabilities" and np.isfinite(outputs).all():  # NaN data is training's to report
        sums = outputs.reshape(len(outputs), -1).sum(axis=1)
        if outputs.min() < -1e-6 or outputs.max() > 1 + 1e-6 or not np.allclose(sums, 1.0, atol=1e-3):
            raise FitError(f"{whose} declares outputs='probabilities', but its outputs on two samples sum to "
                           f"{', '.join(f'{s:.3g}' for s in sums)}, not 1; expected a softmax last layer, or "
                           "declare outputs='logits' with a from_logits loss")


def _declared_input(model: keras.Model) -> tuple | None:
    try:
        shape = model.input_shape
    except (AttributeError, ValueError):  # a subclassed model not built yet, or several inputs
        return None
    return tuple(shape[1:]) if isinstance(shape, tuple) else None


def _compatible(declared: tuple, sample: tuple) -> bool:
    return len(declared) == len(sample) and all(d is None or d == s for d, s in zip(declared, sample))


def _check_width(spec: ModelSpec, whose: str, outputs: np.ndarray, n_outputs: int | None) -> None:
    got = outputs.shape[1:]
    if n_outputs is None:
        return
    what = "one per class" if spec.task == "classification" else "one per target"
    if got != (n_outputs,):
        shown = got[0] if len(got) == 1 else f"shape {got}"
        raise FitError(f"{whose} outputs {shown} values per sample, but its dataset needs {n_outputs} ({what}); "
                       f"expected a last layer of {n_outputs} units")


def _check_loss(spec: ModelSpec, whose: str) -> None:
    name, from_logits = _loss_facts(spec.compile.loss)
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
