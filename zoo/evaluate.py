"""Scoring a trained model on the held-out split, with scikit-learn's metrics."""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
from sklearn import metrics as skm

from zoo.prepare import Prepared
from zoo.specs import DatasetSpec, ModelSpec

PREDICT_BATCH = 1024


@dataclass
class Evaluation:
    """A model's scores on the test split (and on each test variant)."""

    metrics: dict[str, float]  # accuracy + loss, or mse + mae + r2 + loss
    variants: dict[str, dict[str, float]] = field(default_factory=dict)
    per_class: dict[str, dict[str, float]] = field(default_factory=dict)  # class -> precision/recall/f1/support
    confusion: list[list[int]] = field(default_factory=list)  # rows: true class, columns: predicted
    # Regression with several targets: each one's mse, mae and r2 (the headline r2 is their mean).
    per_target: dict[str, dict[str, float]] = field(default_factory=dict)
    outputs: np.ndarray | None = field(default=None, repr=False)  # the raw outputs on x_test, for plots and exports

    @property
    def primary(self) -> tuple[str, float]:
        """The headline number: accuracy for classifiers, R² for regressors."""
        key = "accuracy" if "accuracy" in self.metrics else "r2"
        return key, self.metrics[key]


def evaluate(spec: ModelSpec, dataset: DatasetSpec, model: keras.Model, data: Prepared) -> Evaluation:
    """Score ``model`` on ``data``'s test split and test variants."""
    outputs = predict(model, data.x_test)
    result = Evaluation(_score(spec, data, outputs), outputs=outputs)
    if spec.task == "classification":
        names = list(dataset.class_names)
        predicted = outputs.argmax(axis=1)
        report = skm.classification_report(data.truth, predicted, labels=range(len(names)), target_names=names,
                                           output_dict=True, zero_division=0)
        result.per_class = {n: {k: float(v) for k, v in report[n].items()} for n in names}
        result.confusion = skm.confusion_matrix(data.truth, predicted, labels=range(len(names))).tolist()
    elif data.y_test.shape[1] > 1:
        names = [spec.target] if spec.target else list(dataset.target_names)
        result.per_target = {name: _regression_scores(data.y_test[:, i], outputs[:, i]) for i, name in enumerate(names)}
    for name, x in data.test_variants.items():
        result.variants[name] = _score(spec, data, predict(model, x))
    return result


def predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """The model's outputs for ``x`` as a numpy array."""
    return np.asarray(model.predict(x, batch_size=PREDICT_BATCH, verbose=0))


def headline(spec: ModelSpec, data: Prepared, outputs: np.ndarray) -> float:
    """The headline metric of ``outputs`` on the test split: accuracy for classifiers, R² for regressors
    (``Evaluation.primary``), without the loss and the other scores."""
    if spec.task == "regression":
        return float(skm.r2_score(data.y_test, outputs))
    return float(skm.accuracy_score(data.truth, outputs.argmax(axis=1)))


def _loss(spec: ModelSpec, y: np.ndarray, outputs: np.ndarray) -> float:
    values = keras.losses.get(spec.compile.loss)(keras.ops.convert_to_tensor(y), keras.ops.convert_to_tensor(outputs))
    return float(np.mean(keras.ops.convert_to_numpy(values)))


def _score(spec: ModelSpec, data: Prepared, outputs: np.ndarray) -> dict[str, float]:
    loss = _loss(spec, data.y_test, outputs)
    if spec.task == "regression":
        return {**_regression_scores(data.y_test, outputs), "loss": loss}
    return {"accuracy": float(skm.accuracy_score(data.truth, outputs.argmax(axis=1))), "loss": loss}


def _regression_scores(y: np.ndarray, outputs: np.ndarray) -> dict[str, float]:
    """MSE, MAE and R² (for several columns, the mean over them, as scikit-learn's uniform average)."""
    return {"mse": float(skm.mean_squared_error(y, outputs)), "mae": float(skm.mean_absolute_error(y, outputs)),
            "r2": float(skm.r2_score(y, outputs))}
