"""Class probabilities from a classifier's outputs, the same for validation, plots and predictions."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable for large logits."""
    z = np.asarray(logits, dtype=np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def probabilities(outputs: np.ndarray, kind: str) -> np.ndarray:
    """Class probabilities from a classifier's outputs: softmax of logits, probabilities as they are."""
    return softmax(outputs) if kind == "logits" else np.asarray(outputs, dtype=np.float64)
