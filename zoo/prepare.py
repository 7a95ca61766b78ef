"""Turning a dataset's raw arrays into what one model trains and is tested on."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from zoo.specs import DatasetSpec, ModelSpec, Splits


@dataclass(frozen=True)
class Prepared:
    """Model-ready arrays: inputs preprocessed, targets encoded, training set augmented."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    truth: np.ndarray  # test targets as metrics want them: class indices, or the target column
    test_variants: dict[str, np.ndarray] = field(default_factory=dict)  # name -> transformed x_test
    n_outputs: int | None = None  # what the model must output per sample: one per class or target; None: unknown
    dataset_targets: tuple[str, ...] = ()  # regression: every target the dataset offers (for ModelSpec.target)

    @property
    def n_train(self) -> int:
        """Training samples per pass over the (augmented) training set."""
        return len(self.x_train)


def prepare(spec: ModelSpec, dataset: DatasetSpec, splits: Splits) -> Prepared:
    """Apply ``spec``'s preprocessing, target encoding and augmentation to ``splits``."""
    x_train, x_test = spec.preprocess(splits.x_train), spec.preprocess(splits.x_test)
    y_train, y_test = _targets(spec, dataset, splits.y_train), _targets(spec, dataset, splits.y_test)
    if spec.augment is not None:
        x_train, y_train = spec.augment(x_train, y_train)
    truth = y_test.argmax(axis=1) if spec.one_hot else y_test
    variants = {name: np.asarray(f(x_test), dtype=np.float32) for name, f in spec.test_variants.items()}
    n_outputs = len(dataset.class_names) if dataset.task == "classification" else y_test.shape[1]
    return Prepared(x_train, y_train, x_test, y_test, truth, variants, n_outputs, tuple(dataset.target_names))


def _targets(spec: ModelSpec, dataset: DatasetSpec, y: np.ndarray) -> np.ndarray:
    if dataset.task == "regression":
        y = np.asarray(y, dtype=np.float32)
        if spec.target is not None:
            y = y[:, dataset.target_names.index(spec.target)]
        return y.reshape(len(y), -1)
    labels = np.asarray(y, dtype=np.int64)
    if spec.one_hot:
        return np.eye(len(dataset.class_names), dtype=np.float32)[labels]
    return labels
