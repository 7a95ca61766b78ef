"""How far one runtime's outputs are from the Keras model's, and whether that is close enough.

The rule: |difference| <= tolerance * max(1, the sample's largest |output|). Probabilities are at
most 1, so for them this is the absolute 1e-4. Logits and regression values can be large, and
float32 resolution grows with magnitude: ``fashion_linear``'s logits, sums of 784 raw 0-255 pixels
times weights, reach ~3,000, where one float32 step is 2.4e-4, and Keras and onnxruntime sum in
different orders (we measured 0.002 apart, 1.2e-6 of the logit scale; Keras itself is 0.0024 from
the float64 result). An absolute 1e-4 would reject an exact conversion, so above 1 the same 1e-4
is relative. Classifiers must also predict the same class on every sample; the difference in
probabilities (softmax of logits) is recorded beside.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from zoo.errors import ExportError
from zoo.probabilities import softmax

# Largest |onnxruntime - Keras| allowed: absolute on probabilities, relative to the output's size above 1.
TOLERANCE = 1e-4


@dataclass(frozen=True)
class Comparison:
    """How far onnxruntime's outputs are from Keras' on the same inputs."""

    samples: int
    output_kind: str  # "probabilities", "logits" or "values"
    max_abs_diff: float  # max |onnxruntime - Keras| on the outputs as they are
    max_scaled_diff: float  # the same, each sample's divided by max(1, its largest |output|): held to tolerance
    tolerance: float
    class_mismatches: int | None  # samples whose predicted class differs; None for regression
    max_abs_diff_probabilities: float | None  # on probabilities, or softmax(logits); None for regression

    @property
    def passed(self) -> bool:
        """Within tolerance (NaN fails) and, for classifiers, the same class on every sample."""
        return bool(self.max_scaled_diff <= self.tolerance) and not self.class_mismatches

    def summary(self) -> str:
        """One line: how close, on how many samples."""
        text = f"max |onnxruntime - Keras| on {self.output_kind} {self.max_abs_diff:.3g}"
        if self.max_scaled_diff != self.max_abs_diff:
            text += f", {self.max_scaled_diff:.3g} relative to each sample's largest |{self.output_kind}|"
        text += f" (tolerance {self.tolerance:g}) over {self.samples:,} test samples"
        if self.class_mismatches is not None:
            text += (f"; predicted class differs on {self.class_mismatches:,}" if self.class_mismatches
                     else "; predicted class agrees on every sample")
        return text


def compare_outputs(expected: np.ndarray, actual: np.ndarray, output_kind: str,
                    tolerance: float = TOLERANCE) -> Comparison:
    """Compare a runtime's outputs (``actual``) with Keras' (``expected``), row = sample, by the rule above."""
    expected, actual = np.asarray(expected, np.float64), np.asarray(actual, np.float64)
    if expected.shape != actual.shape:
        raise ExportError(f"onnxruntime's output has shape {actual.shape}, Keras' {expected.shape}; "
                          "the conversion changed the model")
    rows = expected.reshape(len(expected), -1)
    diff = np.abs(rows - actual.reshape(len(actual), -1))
    scale = np.maximum(1.0, np.abs(rows).max(axis=1, keepdims=True)) if rows.size else 1.0
    raw, scaled = _max(diff), _max(diff / scale)
    if output_kind == "values":
        return Comparison(len(expected), output_kind, raw, scaled, tolerance, None, None)
    probabilities = raw if output_kind == "probabilities" else _max(np.abs(softmax(expected) - softmax(actual)))
    mismatches = int(np.count_nonzero(expected.argmax(axis=1) != actual.argmax(axis=1)))
    return Comparison(len(expected), output_kind, raw, scaled, tolerance, mismatches, probabilities)


def _max(values: np.ndarray) -> float:
    if values.size == 0:
        return 0.0
    return float("nan") if np.isnan(values).any() else float(values.max())
