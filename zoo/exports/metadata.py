"""The metadata every ONNX export carries, so an app can use the file without zoo.

The keys live in the ONNX model's ``metadata_props`` (string to string). An app with
onnxruntime reads them from ``InferenceSession.get_modelmeta().custom_metadata_map``.
Scalars are plain strings; lists and shapes are JSON (``null`` marks the dynamic batch
dimension). README's "ONNX exports" section documents each key from ``KEYS``.

This module needs numpy only (no onnx, no Keras), so ``zoo predict`` can use it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields

import numpy as np

from zoo.errors import ExportError

SCHEMA = "zoo.onnx/2"
# Files of the first schema have the same keys; their preprocess_scale and offset are always numbers.
READABLE_SCHEMAS = ("zoo.onnx/1", SCHEMA)

# key -> what it holds; the order is the order of README's table.
KEYS: dict[str, str] = {
    "zoo_metadata_schema": f"`{SCHEMA}`: the version of this set of keys",
    "model_name": "the zoo entry, e.g. `mnist_cnn`",
    "description": "the network in one line",
    "dataset": "the dataset it was trained on, e.g. `mnist`",
    "dataset_source": "the dataset's origin and licence",
    "task": "`classification` or `regression`",
    "class_names": "JSON list: the class of each output column, in output order (classification; else `[]`)",
    "target_names": "JSON list: what each output column predicts (regression; else `[]`)",
    "input_name": "the graph input's name: `pixels` (images), `features` (tabular) or `x` (one number)",
    "input_shape": "JSON list, `null` for the dynamic batch dimension, e.g. `[null, 28, 28, 1]`",
    "input_dtype": "always `float32`: the preprocessed values",
    "input_layout": "`NHWC`, `NHW` or `NC`, with a note, e.g. `NC (batch, 28x28 pixels flattened row-major)`",
    "raw_input_shape": "JSON list: the shape of one raw sample before preprocessing, e.g. `[28, 28]`",
    "raw_input_dtype": "the raw data's dtype, e.g. `uint8` (pixels 0-255) or `float32` (cm)",
    "raw_input_range": ("JSON `[min, max]` of the raw values the model takes when narrower than its dtype's, e.g. "
                        "the token ids an `Embedding` knows, `[0, vocabulary - 1]`; else `null` (absent in files of "
                        "earlier zoo versions: `null`)"),
    "preprocess_scale": ("JSON number, or list of one number per feature along the raw sample's last axis: "
                         "model input = float32(raw) * scale + offset (broadcast), then reshaped to `input_shape`"),
    "preprocess_offset": "JSON number or per-feature list, see `preprocess_scale`",
    "preprocessing": "the same in words, e.g. `x / 255, reshaped to (784,)` or `none (raw values as float32)`",
    "output_name": "the graph output's name: `probabilities`, `logits` or `y`",
    "output_shape": "JSON list, e.g. `[null, 10]`",
    "output_kind": "`probabilities` (softmax applied), `logits` (apply softmax yourself) or `values` (regression)",
    "metric_name": "the headline test metric: `accuracy` (classification) or `r2` (regression)",
    "metric_value": "its value on the held-out test split, measured on the Keras model",
    "metric_test_samples": "how many test samples it was measured on",
    "tutorial_title": "the tutorial the entry reproduces",
    "tutorial_source": "where that tutorial is (URL or file)",
    "zoo_version": "the zoo version that exported the file",
    "trained_with": "Keras version and backend of the training run",
    "exported_with": "converter and library versions, e.g. `tf2onnx 1.17.0, tensorflow 2.21.0`",
    "created": "when the file was exported (ISO 8601, UTC)",
}
# Keys only end_to_end/model.onnx has, beside all of model.onnx's (zoo.exports.end_to_end), in this order.
END_TO_END_KEYS: dict[str, str] = {
    "end_to_end": "`true`: the file takes raw samples and does the preprocessing (and softmax) itself",
    "end_to_end_outputs": "JSON list of its outputs: `[\"probabilities\", \"class\"]` or `[\"y\"]`",
}
_JSON_KEYS = {"class_names", "target_names", "input_shape", "raw_input_shape", "output_shape", "preprocess_scale",
              "preprocess_offset", "raw_input_range"}
# Keys added after a schema was published: a file without one reads as if it held JSON null.
OPTIONAL_KEYS = {"raw_input_range"}


@dataclass(frozen=True)
class OnnxMetadata:
    """The parsed metadata of one export; field names are the keys of ``KEYS``."""

    zoo_metadata_schema: str
    model_name: str
    description: str
    dataset: str
    dataset_source: str
    task: str
    class_names: list[str]
    target_names: list[str]
    input_name: str
    input_shape: list[int | None]
    input_dtype: str
    input_layout: str
    raw_input_shape: list[int]
    raw_input_dtype: str
    preprocess_scale: float | list[float]
    preprocess_offset: float | list[float]
    preprocessing: str
    output_name: str
    output_shape: list[int | None]
    output_kind: str
    metric_name: str
    metric_value: float
    metric_test_samples: int
    tutorial_title: str
    tutorial_source: str
    zoo_version: str
    trained_with: str
    exported_with: str
    created: str
    raw_input_range: list[int] | None = None

    def to_props(self) -> dict[str, str]:
        """The string-to-string map that goes into ``metadata_props``."""
        props = {}
        for key, value in asdict(self).items():
            props[key] = json.dumps(value) if key in _JSON_KEYS else repr(value) if isinstance(value, float) else str(value)
        return props

    @classmethod
    def from_props(cls, props: Mapping[str, str], where: str = "the ONNX file") -> OnnxMetadata:
        """Parse ``metadata_props``; ExportError when keys are missing or the schema is not zoo's."""
        schema = props.get("zoo_metadata_schema")
        if schema not in READABLE_SCHEMAS:
            raise ExportError(f"{where}: not a zoo export (metadata schema {schema!r}, expected {SCHEMA!r}); "
                              "export it with 'zoo export NAME'")
        missing = [key for key in KEYS if key not in props and key not in OPTIONAL_KEYS]
        if missing:
            raise ExportError(f"{where}: metadata lacks {', '.join(missing)}; export it again with 'zoo export NAME'")
        values = {}
        try:
            for f in fields(cls):
                text = props.get(f.name, "null")
                values[f.name] = (json.loads(text) if f.name in _JSON_KEYS else float(text) if f.type == "float"
                                  else int(text) if f.type == "int" else text)
        except (ValueError, RecursionError) as exc:  # RecursionError: absurdly nested JSON
            raise ExportError(f"{where}: unreadable metadata value ({type(exc).__name__}: {str(exc)[:200]}); "
                              "export it again with 'zoo export NAME'") from exc
        problem = _type_problem(values)
        if problem:
            raise ExportError(f"{where}: bad metadata: {problem}; export it again with 'zoo export NAME'")
        return cls(**values)

    @property
    def labels(self) -> list[str]:
        """What the output columns are: class names, or target names."""
        return self.class_names if self.task == "classification" else self.target_names

    def preprocess(self, raw: np.ndarray) -> np.ndarray:
        """Raw samples (a batch, each of ``raw_input_shape``) as the model's float32 input."""
        x = np.asarray(raw).astype(np.float32)
        scale, offset = np.asarray(self.preprocess_scale, np.float32), np.asarray(self.preprocess_offset, np.float32)
        if np.any(scale != 1.0) or np.any(offset != 0.0):
            # float32 arithmetic, broadcast along the last axis, as training's preprocessing did, so inputs
            # match bit for bit.
            x = x * scale + offset
        return x.reshape((len(x), *self.input_shape[1:]))


def _type_problem(values: dict) -> str | None:
    """What is wrong with parsed metadata values that would break an app reading them, or None."""
    def strings(v):
        return isinstance(v, list) and all(isinstance(i, str) for i in v)

    def dims(v):
        return isinstance(v, list) and all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in v)

    for key in ("class_names", "target_names"):
        if not strings(values[key]):
            return f"{key} must be a JSON list of strings"
    for key in ("input_shape", "output_shape"):
        shape = values[key]
        if not (isinstance(shape, list) and shape and shape[0] is None and dims(shape[1:])):
            return f"{key} must be a JSON list: null (the batch) then positive integers"
    if not dims(values["raw_input_shape"]):
        return "raw_input_shape must be a JSON list of positive integers"
    bounds = values["raw_input_range"]
    if bounds is not None and not (isinstance(bounds, list) and len(bounds) == 2
                                   and all(isinstance(b, int) and not isinstance(b, bool) for b in bounds)
                                   and bounds[0] <= bounds[1]):
        return "raw_input_range must be null or a JSON list [min, max] of integers"
    for key in ("preprocess_scale", "preprocess_offset"):
        problem = _scale_problem(key, values[key], values["raw_input_shape"])
        if problem:
            return problem
    if values["task"] not in ("classification", "regression"):
        return f"task must be classification or regression, not {values['task'][:40]!r}"
    if values["output_kind"] not in ("probabilities", "logits", "values"):
        return f"output_kind must be probabilities, logits or values, not {values['output_kind'][:40]!r}"
    if math.prod(values["raw_input_shape"]) != math.prod(values["input_shape"][1:]):
        return "raw_input_shape and input_shape hold different numbers of values"
    return None


def _scale_problem(key: str, value, raw_shape: list[int]) -> str | None:
    """What is wrong with a preprocess_scale or preprocess_offset value, or None."""
    def number(v):
        return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)

    if number(value):
        return None
    if not (isinstance(value, list) and value and all(number(v) for v in value)):
        return f"{key} must be a finite number or a JSON list of them"
    if len(value) != 1 and (not raw_shape or raw_shape[-1] != len(value)):
        return f"{key} has {len(value)} values but raw samples have {raw_shape[-1] if raw_shape else 1} features"
    return None
