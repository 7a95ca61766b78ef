"""The export metadata reader under fuzzing: any strings give metadata or ExportError, nothing else."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from zoo.errors import ExportError
from zoo.exports.metadata import KEYS, SCHEMA, OnnxMetadata

VALID = {
    "zoo_metadata_schema": SCHEMA, "model_name": "m", "description": "d", "dataset": "mnist",
    "dataset_source": "s", "task": "classification", "class_names": '["a", "b"]', "target_names": "[]",
    "input_name": "pixels", "input_shape": "[null, 784]", "input_dtype": "float32", "input_layout": "NC",
    "raw_input_shape": "[28, 28]", "raw_input_dtype": "uint8", "preprocess_scale": "0.00392156862745098",
    "preprocess_offset": "0.0", "preprocessing": "x / 255", "output_name": "probabilities",
    "output_shape": "[null, 2]", "output_kind": "probabilities", "metric_name": "accuracy",
    "metric_value": "0.9", "metric_test_samples": "10", "tutorial_title": "t", "tutorial_source": "s",
    "zoo_version": "0.1.0", "trained_with": "keras", "exported_with": "tf2onnx", "created": "now",
    "raw_input_range": "null",
}


def test_valid_metadata_parses():
    assert set(VALID) == set(KEYS)
    meta = OnnxMetadata.from_props(VALID)
    assert meta.input_shape == [None, 784] and meta.labels == ["a", "b"]


def parse_or_documented_error(props):
    try:
        meta = OnnxMetadata.from_props(props, "fuzz.onnx")
    except ExportError as exc:
        assert str(exc).startswith("fuzz.onnx: ")
        return None
    assert isinstance(meta.labels, list)  # a parsed result is usable
    return meta


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(VALID)), st.text(max_size=60))
def test_fuzz_one_value(key, text):
    parse_or_documented_error({**VALID, key: text})


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(["input_shape", "class_names", "raw_input_shape", "preprocess_scale"]), st.integers(1, 5000))
def test_fuzz_deeply_nested_json(key, depth):
    parse_or_documented_error({**VALID, key: "[" * depth + "]" * depth})


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=20), st.text(max_size=40), max_size=40))
def test_fuzz_any_mapping(props):
    parse_or_documented_error(props)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(VALID)), st.text(max_size=30)))
def test_fuzz_valid_keys_random_values(overrides):
    parse_or_documented_error({**VALID, **overrides})


def test_per_feature_preprocessing_values():
    tabular = {**VALID, "raw_input_shape": "[4]", "input_shape": "[null, 4]",
               "preprocess_scale": "[0.5, 2.0, 1.0, 4.0]", "preprocess_offset": "[-1, 0, 0, 0.5]"}
    meta = OnnxMetadata.from_props(tabular)
    x = meta.preprocess(np.array([[2, 1, 3, 1]], dtype=np.float32))
    assert x.tolist() == [[0.0, 2.0, 3.0, 4.5]]
    assert parse_or_documented_error({**tabular, "preprocess_scale": "[1, 2, 3]"}) is None  # 3 values for 4 features
    assert parse_or_documented_error({**tabular, "preprocess_offset": "[]"}) is None
    assert OnnxMetadata.from_props({**VALID, "zoo_metadata_schema": "zoo.onnx/1"}).preprocess_scale == 1 / 255
