"""Classify raw samples with a zoo ONNX export, using only numpy and onnxruntime.

This is what a downstream app does. An export's ``end_to_end/model.onnx`` takes raw samples (e.g. uint8
pixels) and gives probabilities (or regression values) itself; the app only reads the class names from its
metadata. Given ``model.onnx``, the end-to-end file beside it is used when there is one; exports of earlier
zoo versions have ``model.onnx`` alone, which takes preprocessed input: everything the app needs to know
(input shape, preprocessing, whether outputs are logits) comes from the file's metadata.

    python examples/onnx_consumer.py exports/mnist_cnn/end_to_end/model.onnx digits.npy
    python examples/onnx_consumer.py exports/iris_mlp/model.onnx flowers.csv

Inputs: ``.npy`` files holding one raw sample (e.g. a 28x28 uint8 image) or a batch of them
(N, 28, 28), or ``.csv`` files with one raw sample per row (e.g. the four iris measurements in cm;
a header row is skipped). Prints, per sample, the class and its probability (or the regression
value); ``--json`` prints a JSON list instead.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys

import numpy as np
import onnxruntime as ort


def read_metadata(session: ort.InferenceSession) -> dict:
    """The export's metadata_props, with the JSON-valued keys parsed."""
    props = dict(session.get_modelmeta().custom_metadata_map)
    if props.get("zoo_metadata_schema") not in ("zoo.onnx/1", "zoo.onnx/2"):
        raise SystemExit("not a zoo export: its metadata has no zoo_metadata_schema 'zoo.onnx/2'")
    for key in ("class_names", "target_names", "input_shape", "raw_input_shape", "output_shape", "preprocess_scale",
                "preprocess_offset"):
        props[key] = json.loads(props[key])
    return props


def read_raw(path: str, meta: dict) -> np.ndarray:
    """A batch of raw samples from a .npy or .csv file, checked against raw_input_shape."""
    shape = tuple(meta["raw_input_shape"])
    if path.endswith(".npy"):
        raw = np.load(path, allow_pickle=False)
    elif path.endswith(".csv"):
        with open(path, newline="") as f:
            rows = [row for row in csv.reader(f) if row]
        if rows and not _numeric(rows[0]):
            rows = rows[1:]  # a header
        raw = np.asarray([[float(v) for v in row] for row in rows])
    else:
        raise SystemExit(f"{path}: give a .npy or .csv file")
    if raw.shape == shape:
        raw = raw[None]
    if raw.shape[1:] != shape and raw.reshape(len(raw), -1).shape[1:] != (int(np.prod(shape)),):
        raise SystemExit(f"{path}: samples of shape {raw.shape[1:]}, the model takes raw samples of {shape}")
    kind = np.dtype(meta["raw_input_dtype"])
    if kind.kind in "iu":  # e.g. uint8 pixels: refuse data that was already scaled
        info = np.iinfo(kind)
        if raw.min() < info.min or raw.max() > info.max or not np.array_equal(raw, np.round(raw)):
            raise SystemExit(f"{path}: the model takes raw {kind} values ({info.min}-{info.max}), "
                             f"not values from {raw.min():g} to {raw.max():g}")
        bounds = json.loads(meta.get("raw_input_range", "null"))  # the token ids an Embedding knows, say
        if bounds is not None and (raw.min() < bounds[0] or raw.max() > bounds[1]):
            raise SystemExit(f"{path}: the model takes values {bounds[0]}-{bounds[1]} (its vocabulary), "
                             f"not values from {raw.min():g} to {raw.max():g}")
    return raw.reshape((len(raw), *shape))


def _numeric(row: list[str]) -> bool:
    try:
        [float(v) for v in row]
    except ValueError:
        return False
    return True


def preprocess(raw: np.ndarray, meta: dict) -> np.ndarray:
    """raw -> model input, as the metadata says: float32(raw) * scale + offset, reshaped.

    scale and offset are numbers, or one number per feature along the raw sample's last axis.
    """
    x = raw.astype(np.float32)
    scale = np.asarray(meta["preprocess_scale"], np.float32)
    offset = np.asarray(meta["preprocess_offset"], np.float32)
    if np.any(scale != 1.0) or np.any(offset != 0.0):
        x = x * scale + offset  # in float32, broadcast per feature, as in training
    return x.reshape((len(x), *meta["input_shape"][1:]))


def softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def open_model(path: str) -> ort.InferenceSession:
    """A session of the end-to-end file beside ``path`` (a ``model.onnx``) when there is one, else of ``path``."""
    beside = os.path.join(os.path.dirname(path), "end_to_end", "model.onnx")
    chosen = beside if os.path.basename(path) == "model.onnx" and os.path.isfile(beside) else path
    return ort.InferenceSession(chosen, providers=["CPUExecutionProvider"])


def predict(session: ort.InferenceSession, meta: dict, raw: np.ndarray, batch: int = 1000) -> np.ndarray:
    """Probabilities (classification; logits go through softmax) or values (regression)."""
    if meta.get("end_to_end") == "true":  # raw samples in, probabilities (or values) out: the first output
        x = raw.astype(meta["raw_input_dtype"])
        name = session.get_inputs()[0].name
        return np.concatenate([session.run(None, {name: x[i:i + batch]})[0] for i in range(0, len(x), batch)])
    x = preprocess(raw, meta)
    outputs = np.concatenate([session.run([meta["output_name"]], {meta["input_name"]: x[i:i + batch]})[0]
                              for i in range(0, len(x), batch)])
    return softmax(outputs) if meta["output_kind"] == "logits" else outputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="a zoo export, e.g. exports/mnist_cnn/end_to_end/model.onnx (or model.onnx)")
    parser.add_argument("inputs", nargs="+", help=".npy or .csv files of raw samples")
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    args = parser.parse_args(argv)

    session = open_model(args.model)
    meta = read_metadata(session)
    results = []
    for path in args.inputs:
        outputs = predict(session, meta, read_raw(path, meta))
        for i, row in enumerate(outputs):
            source = f"{path}[{i}]"
            if meta["task"] == "classification":
                best = int(row.argmax())
                results.append({"source": source, "class": meta["class_names"][best],
                                "class_index": best, "probability": float(row[best])})
            else:
                results.append({"source": source, **{n: float(v) for n, v in zip(meta["target_names"], row)}})
    if args.json:
        print(json.dumps({"model": meta["model_name"], "predictions": results}))
    else:
        print(f"{meta['model_name']}: {meta['description']} (test {meta['metric_name']} "
              f"{float(meta['metric_value']):.4g})")
        for r in results:
            if "class" in r:
                print(f"{r['source']}: {r['class']} (probability {r['probability']:.4f})")
            else:
                print(f"{r['source']}: " + ", ".join(f"{k} = {v:.6g}" for k, v in r.items() if k != "source"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
