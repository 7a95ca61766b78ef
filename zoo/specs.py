"""The records plugins register: ``DatasetSpec``, ``ModelSpec`` and their parts.

They are plain frozen dataclasses. Each checks itself on construction, so a
plugin that builds a bad record fails inside its own hook, with a message that
names the field, and the registry marks that plugin as failed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from zoo.errors import InvalidSpecError

if TYPE_CHECKING:
    import keras

Task = Literal["classification", "regression"]
TASKS: tuple[str, ...] = ("classification", "regression")
Outputs = Literal["probabilities", "logits", "values"]
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def _check(condition: bool, what: str, problem: str) -> None:
    if not condition:
        raise InvalidSpecError(f"{what}: {problem}")


@dataclass(frozen=True)
class Splits:
    """A dataset's raw arrays (before any model's preprocessing) and where they came from."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    origin: str = ""
    files: Mapping[str, str] = field(default_factory=dict)  # file name -> sha256


@dataclass(frozen=True)
class RemoteFile:
    """A file the canonical loader downloads into the Keras cache, with its known sha256."""

    url: str
    sha256: str
    cache_subdir: str = "datasets"  # under the Keras home, as keras.datasets stores it

    @property
    def fname(self) -> str:
        """The file's name in the cache folder."""
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ReferenceSet:
    """Trained results a plugin ships for its entries, so its users predict and load weights without training.

    Laid out as zoo's own reference set (``zoo reference PLUGIN --dest DIR`` builds one): a folder per entry
    (``model.keras``, ``model.onnx``, ``test_data_set_0/``, the reports) and ``manifest.json`` with every file's
    sha256. Either ``folder``, the set inside the plugin's package (e.g. ``Path(__file__).parent / "reference"``),
    or, for weights too large for a wheel, ``url`` of a ``.tar.gz`` or ``.zip`` of such a folder with its
    ``sha256``: downloaded once into zoo's cache, checked, and used offline after.
    """

    folder: str | Path | None = None
    url: str | None = None
    sha256: str | None = None

    def __post_init__(self) -> None:
        if (self.folder is None) == (self.url is None):
            raise InvalidSpecError("a ReferenceSet with exactly one of folder= (in the package) or url= (an archive)")
        if self.url is not None and not (isinstance(self.sha256, str) and re.fullmatch(r"[0-9a-f]{64}", self.sha256)):
            raise InvalidSpecError(f"a ReferenceSet url={self.url!r} without sha256= (64 hex digits) of the archive")
        if self.url is not None and not self.url.endswith((".tar.gz", ".tgz", ".zip")):
            raise InvalidSpecError(f"a ReferenceSet url={self.url!r} that is not a .tar.gz, .tgz or .zip archive")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset: where its files live and how to read them, or how to make it.

    A file-based dataset names the standard files of its folder (``folder_files``)
    with a reader for that folder, and the canonical downloads. A dataset that needs
    no files (bundled with a library, or generated from a seed) gives ``load``.
    """

    name: str
    task: Task
    description: str
    class_names: tuple[str, ...] = ()  # classification: label index -> name
    target_names: tuple[str, ...] = ()  # regression: the columns of y
    folder_names: tuple[str, ...] = ()  # sub-folders of a data dir that may hold it
    folder_files: tuple[str, ...] = ()  # the standard files such a folder holds
    read_folder: Callable[[Path], Splits] | None = None
    downloads: tuple[RemoteFile, ...] = ()
    # Reads the downloaded files (in ``downloads`` order); default: ``read_folder`` on their folder.
    read_downloads: Callable[[list[Path]], Splits] | None = None
    load: Callable[[], Splits] | None = None
    origin: str = ""  # where a file-less dataset comes from, for `zoo datasets`
    source: str = ""  # citation and licence

    def __post_init__(self) -> None:
        what = f"dataset {self.name!r}"
        _check(isinstance(self.name, str) and bool(_NAME.match(self.name)), what,
               "name must be lower-case letters, digits and '_', starting with a letter")
        _check(self.task in TASKS, what, f"task must be one of {', '.join(TASKS)}, not {self.task!r}")
        _check(bool(self.description), what, "needs a one-line description")
        has_files = bool(self.folder_files) or bool(self.downloads)
        _check(has_files or self.load is not None, what,
               "give standard files (folder_files + read_folder, or downloads) or a load function")
        if self.folder_files:
            _check(callable(self.read_folder), what, "folder_files needs a read_folder function")
            _check(bool(self.folder_names), what, "folder_files needs folder_names")
        if self.downloads:
            _check(callable(self.read_downloads) or callable(self.read_folder), what,
                   "downloads need read_downloads or read_folder")
        if self.task == "classification":
            _check(len(self.class_names) >= 2, what, "a classification dataset needs class_names")

    @property
    def needs_files(self) -> bool:
        """Whether the data comes from files (local or downloaded) rather than ``load``."""
        return self.load is None


Scale = float | tuple[float, ...]


@dataclass(frozen=True)
class Preprocess:
    """How raw samples become model inputs: ``float32(x) * scale + offset``, reshaped per sample.

    ``scale`` and ``offset`` are numbers, or one number per feature along the raw sample's last
    axis (numpy broadcasting), e.g. per-column standardisation of a table: ``Preprocess.standardize``.
    Declarative on purpose: the same numbers go into reports and export metadata, so an app
    without zoo can prepare raw data exactly as training did.
    """

    scale: Scale = 1.0
    offset: Scale = 0.0
    shape: tuple[int, ...] | None = None  # per-sample shape after reshaping; None keeps it

    def __post_init__(self) -> None:
        for name in ("scale", "offset"):
            value = getattr(self, name)
            if isinstance(value, (list, tuple, np.ndarray)):
                values = tuple(float(v) for v in np.asarray(value, dtype=np.float64).ravel())
                _check(len(values) >= 1, "preprocess", f"{name} needs at least one value")
                object.__setattr__(self, name, values)
            else:
                _check(isinstance(value, (int, float, np.floating, np.integer)) and not isinstance(value, bool),
                       "preprocess", f"{name} must be a number or a list of numbers, not {value!r}")
                object.__setattr__(self, name, float(value))
            _check(bool(np.all(np.isfinite(getattr(self, name)))), "preprocess", f"{name} must be finite")

    @classmethod
    def standardize(cls, mean, std, shape: tuple[int, ...] | None = None) -> Preprocess:
        """Per-feature standardisation ``(x - mean) / std``, as ``scale = 1/std`` and ``offset = -mean/std``."""
        mean, std = np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)
        for feature in np.flatnonzero(~(std > 0))[:1]:
            _check(False, "preprocess", f"standardize needs every std > 0, but feature {feature} has std "
                                        f"{std[feature]:g}: a constant column carries no information; drop it")
        return cls(scale=tuple(1.0 / std), offset=tuple(-mean / std), shape=shape)

    @property
    def per_feature(self) -> int | None:
        """How many features the per-feature values are for, or None when both are plain numbers."""
        lengths = {len(v) for v in (self.scale, self.offset) if isinstance(v, tuple)}
        return max(lengths) if lengths else None

    @property
    def is_identity(self) -> bool:
        """Whether the values pass through unchanged (apart from the float32 cast and the reshape)."""
        return bool(np.all(np.asarray(self.scale) == 1.0) and np.all(np.asarray(self.offset) == 0.0))

    @property
    def scale_value(self) -> float | list[float]:
        """``scale`` as a JSON value: a number, or a list with one number per feature."""
        return list(self.scale) if isinstance(self.scale, tuple) else self.scale

    @property
    def offset_value(self) -> float | list[float]:
        """``offset`` as a JSON value: a number, or a list with one number per feature."""
        return list(self.offset) if isinstance(self.offset, tuple) else self.offset

    def feature_problem(self, raw_sample_shape: tuple[int, ...]) -> str | None:
        """Why the per-feature values do not fit raw samples of this shape, or None."""
        for name in ("scale", "offset"):
            value = getattr(self, name)
            if isinstance(value, tuple) and len(value) != 1 and (
                    not raw_sample_shape or raw_sample_shape[-1] != len(value)):
                return (f"preprocess.{name} has {len(value)} values, but a raw sample of shape "
                        f"{tuple(raw_sample_shape)} has {raw_sample_shape[-1] if raw_sample_shape else 1} "
                        "along its last axis; give one value per feature")
        return None

    def __call__(self, x: np.ndarray) -> np.ndarray:
        out = np.asarray(x, dtype=np.float32)
        problem = self.feature_problem(out.shape[1:])
        if problem:
            raise InvalidSpecError(problem)
        if not self.is_identity:
            out = out * np.asarray(self.scale, np.float32) + np.asarray(self.offset, np.float32)
        if self.shape is not None:
            out = out.reshape((len(out), *self.shape))
        return out

    def describe(self) -> str:
        """A short human description, e.g. ``x / 255, reshaped to (784,)``."""
        steps = []
        if self.per_feature:
            steps.append(f"per feature: x * ({_numbers(self.scale)}) + ({_numbers(self.offset)})")
        else:
            if self.scale != 1.0:
                inverse = 1.0 / self.scale
                steps.append(f"x / {inverse:g}" if abs(inverse - round(inverse)) < 1e-9 else f"x * {self.scale:g}")
            if self.offset != 0.0:
                steps.append(f"+ {self.offset:g}")
        if self.shape is not None:
            steps.append(f"reshaped to {tuple(self.shape)}")
        return ", ".join(steps) if steps else "none (raw values as float32)"


def _numbers(value: Scale) -> str:
    return ", ".join(f"{v:.4g}" for v in (value if isinstance(value, tuple) else (value,)))


@dataclass(frozen=True)
class CompileSettings:
    """What ``model.compile`` gets: Keras identifiers or ``{"class_name", "config"}`` dicts."""

    optimizer: str | dict[str, Any] = "adam"
    loss: str | dict[str, Any] = "sparse_categorical_crossentropy"
    metrics: tuple[str, ...] = ("accuracy",)


@dataclass(frozen=True)
class FitSettings:
    """What ``model.fit`` gets.

    With ``steps_per_epoch`` set, each epoch draws that many batches from the
    training set shuffled and repeated without end (tf.data's
    ``repeat().shuffle().batch()``), as the Iris tutorial trains.
    """

    epochs: int
    batch_size: int
    steps_per_epoch: int | None = None
    validate: bool = True  # evaluate the test split after each epoch, as the tutorials do
    # Training steps per backend call (Keras' steps_per_execution); None lets zoo choose (zoo.execution).
    # It changes speed only, never what is computed.
    steps_per_execution: int | None = None

    def __post_init__(self) -> None:
        _check(self.epochs >= 1 and self.batch_size >= 1, "fit settings", "epochs and batch_size must be >= 1")
        _check(self.steps_per_epoch is None or self.steps_per_epoch >= 1, "fit settings",
               "steps_per_epoch must be >= 1")
        _check(self.steps_per_execution is None or self.steps_per_execution >= 1, "fit settings",
               "steps_per_execution must be >= 1")


@dataclass(frozen=True)
class Tutorial:
    """Where a model comes from."""

    title: str
    source: str  # a URL or a file name under shared/tutorials


@dataclass(frozen=True)
class Reference:
    """The tutorial's own reported result, shown beside zoo's measurement."""

    metric: str  # "accuracy" or "mse"
    value: float | None  # None when the tutorial reports no number
    note: str = ""


@dataclass(frozen=True)
class QualityTarget:
    """The quality ``zoo run`` times training to (time to target, as DAWNBench and MLPerf Training time a model).

    Without one, an entry whose tutorial reports an accuracy (``Reference``) is timed to that number.
    """

    metric: str  # the headline metric: "accuracy" (classifiers) or "r2" (regressors); higher is better
    value: float
    note: str = ""  # why this number

    def __post_init__(self) -> None:
        _check(self.metric in ("accuracy", "r2"), "quality target",
               f"metric must be 'accuracy' or 'r2' (the headline metric), not {self.metric!r}")
        _check(isinstance(self.value, (int, float)) and self.value == self.value, "quality target",
               f"value must be a number, not {self.value!r}")


@dataclass(frozen=True)
class ModelSpec:
    """A model: its network, its data preparation, how it trains, and what its tutorial reported.

    Attributes:
        name: lower-case letters, digits and ``_``, starting with a letter; unique across plugins.
        dataset: the name of a registered dataset (built-in: mnist, fashion_mnist, iris, functions).
        build: a function of no arguments returning a new, uncompiled ``keras.Model``.
        description: one line.
        tutorial: ``Tutorial(title, source)``, where the model comes from.
        reference: ``Reference(metric, value, note)``, the tutorial's own result (value None if none).
        compile: ``CompileSettings(optimizer, loss, metrics)`` as Keras names or class_name/config dicts.
        fit: ``FitSettings(epochs, batch_size, steps_per_epoch=None, validate=True)``.
        preprocess: ``Preprocess(scale, offset, shape)``: input = float32(raw) * scale + offset, reshaped.
        one_hot: train on one-hot labels (categorical cross-entropy) instead of class indices.
        target: regression: which of the dataset's target_names to fit (None: all of them).
        outputs: "probabilities" (softmax), "logits" (from_logits loss) or "values" (regression).
        augment: ``(x, y) -> (x, y)`` applied to the preprocessed training set.
        test_variants: name -> function of the preprocessed test inputs, scored beside the plain test set.
        tags: for ``zoo list --tag``.
        custom_objects: a function of no arguments returning the custom layers, losses and functions the model
            uses, by the names its saved ``model.keras`` records (``{"MyLayer": MyLayer}``). zoo calls it, with
            Keras imported, only to load a saved model, so the plugin's module still imports no Keras.
        quality_target: ``QualityTarget(metric, value, note)``, what ``zoo run`` times training to; None: the
            tutorial's accuracy when it reports one (``time_target``).
    """

    name: str
    dataset: str
    build: Callable[[], keras.Model]
    description: str
    tutorial: Tutorial
    reference: Reference
    compile: CompileSettings
    fit: FitSettings
    preprocess: Preprocess = Preprocess()
    one_hot: bool = False  # train on one-hot labels (categorical cross-entropy)
    target: str | None = None  # regression: which of the dataset's target_names to fit
    outputs: Outputs = "probabilities"
    # Applied to the preprocessed training set, e.g. to add augmented copies.
    augment: Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]] | None = None
    # Extra evaluations on transformed (preprocessed) test inputs, reported beside the plain one.
    test_variants: Mapping[str, Callable[[np.ndarray], np.ndarray]] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    custom_objects: Callable[[], Mapping[str, Any]] | None = None
    quality_target: QualityTarget | None = None

    def __post_init__(self) -> None:
        what = f"model {self.name!r}"
        _check(isinstance(self.name, str) and bool(_NAME.match(self.name)), what,
               "name must be lower-case letters, digits and '_', starting with a letter")
        _check(isinstance(self.dataset, str) and bool(self.dataset), what, "needs a dataset name")
        _check(type(self.build).__module__.split(".")[0] != "keras", what,
               "build must be the function that makes the model, not a model: write build=build, not build=build()")
        _check(callable(self.build), what, "build must be a function returning a keras.Model")
        _check(bool(self.description), what, "needs a one-line description")
        _check(isinstance(self.tutorial, Tutorial), what, "tutorial must be a zoo.Tutorial")
        _check(isinstance(self.reference, Reference), what, "reference must be a zoo.Reference")
        _check(isinstance(self.compile, CompileSettings), what, "compile must be a zoo.CompileSettings")
        _check(isinstance(self.fit, FitSettings), what, "fit must be a zoo.FitSettings")
        _check(isinstance(self.preprocess, Preprocess), what, "preprocess must be a zoo.Preprocess")
        _check(self.outputs in ("probabilities", "logits", "values"), what,
               f"outputs must be 'probabilities', 'logits' or 'values', not {self.outputs!r}")
        shape = self.preprocess.shape
        _check(shape is None or (len(shape) >= 1 and all(isinstance(d, int) and d > 0 for d in shape)),
               what, f"preprocess.shape must be positive integers, not {shape!r}")
        _check(all(callable(f) for f in self.test_variants.values()), what, "test_variants must map names to functions")
        _check(self.augment is None or callable(self.augment), what, "augment must be a function")
        _check(self.custom_objects is None or callable(self.custom_objects), what,
               "custom_objects must be a function returning {name: class}, e.g. custom_objects=lambda: "
               "{'MyLayer': my_layer_class()}, so the module need not import Keras")
        _check(self.quality_target is None or isinstance(self.quality_target, QualityTarget), what,
               "quality_target must be a zoo.QualityTarget")
        _check(self.quality_target is None or self.quality_target.metric == ("r2" if self.outputs == "values"
                                                                            else "accuracy"), what,
               "quality_target's metric must be the headline one: 'accuracy' for classifiers, 'r2' for regressors")

    @property
    def time_target(self) -> QualityTarget | None:
        """The quality training is timed to: ``quality_target``, else the tutorial's accuracy or R², else None."""
        if self.quality_target is not None:
            return self.quality_target
        if self.reference.value is not None and self.reference.metric in ("accuracy", "r2"):
            return QualityTarget(self.reference.metric, self.reference.value, "the tutorial's number")
        return None

    @property
    def task(self) -> Task:
        """Classification or regression, from what the network outputs."""
        return "regression" if self.outputs == "values" else "classification"
