"""The end-to-end export: raw samples in, probabilities and class (or values) out, in one ONNX graph.

``end_to_end_model`` wraps a validated ``model.onnx`` proto, by graph transformation alone (no Keras), in

- preprocessing: ``Cast`` of the raw input (``raw_input_dtype``, shape ``[batch, *raw_input_shape]``) to
  float32, ``Mul`` by ``preprocess_scale``, ``Add`` of ``preprocess_offset`` (skipped when they are 1 and 0;
  numbers, or one per feature along the raw sample's last axis), ``Reshape`` to the model's input;
- the model's graph, unchanged;
- postprocessing: classifiers give ``probabilities`` (float32 [batch, classes]; ``Softmax`` applied when the
  model gives logits) and ``class`` (int64 [batch], ``ArgMax``); regression gives ``y`` (float32 [batch, targets]).

The graph input keeps the name of ``model.onnx``'s (``pixels``, ``features`` or ``x``), and ``metadata_props``
are ``model.onnx``'s plus ``END_TO_END_KEYS``. ``export_end_to_end`` validates it against the Keras outputs
on every raw test sample and writes it, with its test vectors, under ``end_to_end/``
(``zoo.exports.manifest.END_TO_END_FILE``); nothing is written unless it validates.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from zoo import files
from zoo.errors import ExportError, first_line
from zoo.exports.compare import Comparison, compare_outputs
from zoo.exports.manifest import END_TO_END_FILE, END_TO_END_TEST_DATA_SET, file_facts
from zoo.exports.metadata import END_TO_END_KEYS, OnnxMetadata
from zoo.exports.runtime import RUNTIME_BATCH, checked_bytes, open_session
from zoo.probabilities import softmax

if TYPE_CHECKING:
    import onnx

BATCH_DIM = "batch"
PROBABILITIES, CLASS, VALUES = "probabilities", "class", "y"
_PREFIX = "zoo_end_to_end/"


def output_names(task: str) -> list[str]:
    """The end-to-end graph's outputs for a ``task``."""
    return [PROBABILITIES, CLASS] if task == "classification" else [VALUES]


def end_to_end_model(proto: onnx.ModelProto, metadata: OnnxMetadata) -> onnx.ModelProto:
    """``proto`` (a zoo ``model.onnx``) with its preprocessing and output head inside the graph; see the module."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    graph = proto.graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise ExportError(f"{metadata.model_name}: model.onnx has {len(graph.input)} inputs and {len(graph.output)} "
                          "outputs; the end-to-end file needs one of each")
    model_in, model_out = graph.input[0].name, graph.output[0].name
    outputs = output_names(metadata.task)
    taken = _names(graph) - {model_in, model_out}
    clash = sorted(taken & {*outputs, metadata.input_name})
    if clash or any(name.startswith(_PREFIX) for name in taken):
        raise ExportError(f"{metadata.model_name}: model.onnx already has a tensor named "
                          f"{clash[0] if clash else _PREFIX + '…'}; cannot build the end-to-end file")
    inner_in, inner_out = _PREFIX + "model_input", _PREFIX + "model_output"
    raw_type = helper.np_dtype_to_tensor_dtype(np.dtype(metadata.raw_input_dtype))
    nodes, inits = _preprocessing(metadata, inner_in)
    body = [_renamed(node, {model_in: inner_in, model_out: inner_out}) for node in graph.node]
    head = _head(metadata, inner_out)
    new_graph = helper.make_graph(
        [*nodes, *body, *head], graph.name,
        [helper.make_tensor_value_info(metadata.input_name, raw_type, [BATCH_DIM, *metadata.raw_input_shape])],
        [helper.make_tensor_value_info(name, TensorProto.INT64 if name == CLASS else TensorProto.FLOAT,
                                       [BATCH_DIM] if name == CLASS else [BATCH_DIM, _width(metadata)])
         for name in outputs],
        initializer=[*graph.initializer, *(numpy_helper.from_array(a, n) for n, a in inits.items())],
        doc_string=graph.doc_string, value_info=[v for v in graph.value_info if v.name not in (model_in, model_out)])
    new_graph.sparse_initializer.extend(graph.sparse_initializer)
    model = helper.make_model(new_graph, opset_imports=list(proto.opset_import), ir_version=proto.ir_version,
                              producer_name=proto.producer_name, producer_version=proto.producer_version,
                              doc_string=proto.doc_string)
    model.functions.extend(proto.functions)
    props = {p.key: p.value for p in proto.metadata_props}
    props.update(zip(END_TO_END_KEYS, ("true", json.dumps(outputs))))
    onnx.helper.set_model_props(model, props)
    return model


def _width(metadata: OnnxMetadata) -> int:
    """Output columns: one per class, or per target."""
    return int(np.prod(metadata.output_shape[1:]))


def _names(graph: onnx.GraphProto) -> set[str]:
    """Every tensor name the top-level graph uses."""
    names = {v.name for v in (*graph.input, *graph.output, *graph.value_info, *graph.initializer)}
    for node in graph.node:
        names.update(node.input)
        names.update(node.output)
    return names - {""}


def _renamed(node: onnx.NodeProto, names: dict[str, str]) -> onnx.NodeProto:
    """``node`` with the tensors in ``names`` renamed, inputs and outputs (subgraphs of If or Loop too)."""
    from onnx import AttributeProto

    copy = type(node)()
    copy.CopyFrom(node)
    for edges in (copy.input, copy.output):
        for i, name in enumerate(edges):
            edges[i] = names.get(name, name)
    for attribute in copy.attribute:
        subgraphs = [attribute.g] if attribute.type == AttributeProto.GRAPH else \
            list(attribute.graphs) if attribute.type == AttributeProto.GRAPHS else []
        for subgraph in subgraphs:
            replaced = [_renamed(n, names) for n in subgraph.node]
            del subgraph.node[:]
            subgraph.node.extend(replaced)
    return copy


def _preprocessing(metadata: OnnxMetadata, output: str) -> tuple[list[onnx.NodeProto], dict[str, np.ndarray]]:
    """Cast, Mul, Add and Reshape from the raw input to ``output``; the nodes and their constants."""
    from onnx import TensorProto, helper

    p = _PREFIX
    nodes = [helper.make_node("Cast", [metadata.input_name], [p + "float"], to=TensorProto.FLOAT,
                              name=p + "cast")]
    scale = np.asarray(metadata.preprocess_scale, np.float32)
    offset = np.asarray(metadata.preprocess_offset, np.float32)
    inits = {p + "shape": np.asarray([0, *metadata.input_shape[1:]], np.int64)}
    current = p + "float"
    if np.any(scale != 1.0) or np.any(offset != 0.0):  # as OnnxMetadata.preprocess: float32, broadcast
        inits.update({p + "scale": scale, p + "offset": offset})
        nodes += [helper.make_node("Mul", [current, p + "scale"], [p + "scaled"], name=p + "mul"),
                  helper.make_node("Add", [p + "scaled", p + "offset"], [p + "shifted"], name=p + "add")]
        current = p + "shifted"
    # 0 keeps the batch dimension as it is, so an empty batch reshapes too.
    nodes.append(helper.make_node("Reshape", [current, p + "shape"], [output], name=p + "reshape"))
    return nodes, inits


def _head(metadata: OnnxMetadata, model_out: str) -> list[onnx.NodeProto]:
    """The nodes from the model's output to the end-to-end outputs."""
    from onnx import helper

    p = _PREFIX
    flat = p + "flat"
    nodes = [helper.make_node("Flatten", [model_out], [flat], axis=1, name=p + "flatten")]
    if metadata.task == "regression":
        nodes.append(helper.make_node("Identity", [flat], [VALUES], name=p + "values"))
        return nodes
    if metadata.output_kind == "logits":
        nodes.append(helper.make_node("Softmax", [flat], [PROBABILITIES], axis=1, name=p + "softmax"))
    else:
        nodes.append(helper.make_node("Identity", [flat], [PROBABILITIES], name=p + "probabilities"))
    nodes.append(helper.make_node("ArgMax", [PROBABILITIES], [CLASS], axis=1, keepdims=0, name=p + "argmax"))
    return nodes


def expected_outputs(keras_outputs: np.ndarray, metadata: OnnxMetadata) -> list[np.ndarray]:
    """What the end-to-end file must give for the Keras model's outputs: probabilities and class, or y."""
    rows = np.asarray(keras_outputs, np.float32).reshape(len(keras_outputs), -1)
    if metadata.task == "regression":
        return [rows]
    probabilities = softmax(rows).astype(np.float32) if metadata.output_kind == "logits" else rows
    return [probabilities, probabilities.argmax(axis=1).astype(np.int64)]


def run_end_to_end(session, raw: np.ndarray, batch: int = RUNTIME_BATCH) -> list[np.ndarray]:
    """Every output of an end-to-end session for a batch of raw samples, in the graph's order, fed in batches."""
    name = session.get_inputs()[0].name
    parts = [session.run(None, {name: raw[i:i + batch]}) for i in range(0, len(raw), batch)]
    if not parts:
        return [np.empty((0,), np.float32) for _ in session.get_outputs()]
    return [np.concatenate(column) for column in zip(*parts)]


def validate_end_to_end(model: onnx.ModelProto, raw: np.ndarray, expected: list[np.ndarray],
                        task: str) -> tuple[bytes, Comparison]:
    """``onnx.checker``, then onnxruntime on every raw sample (and one alone) against ``expected``
    (``expected_outputs``); the bytes that passed. ExportError in one line otherwise."""
    model_bytes = checked_bytes(model, "the end-to-end ONNX model")
    try:
        session = open_session(model_bytes)
        actual, single = run_end_to_end(session, raw), run_end_to_end(session, raw[:1])
    except Exception as exc:  # onnxruntime's errors share no base class
        raise ExportError(f"onnxruntime cannot run the end-to-end export ({first_line(exc)});"
                          " nothing was written") from exc
    kind = "probabilities" if task == "classification" else "values"
    comparison = compare_outputs(expected[0], actual[0], kind)
    alone = compare_outputs(expected[0][:1], single[0], kind)
    worst = comparison if not comparison.passed else alone
    if worst.passed and task == "classification":
        wrong = int(np.count_nonzero(actual[1] != expected[1])) + int(np.count_nonzero(single[1] != expected[1][:1]))
        if wrong:
            raise ExportError(f"end-to-end export failed validation: its class output differs from Keras' on {wrong:,}"
                              f" samples; {END_TO_END_FILE} was not written")
    if not worst.passed:
        raise ExportError(f"end-to-end export failed validation: {worst.summary()}; {END_TO_END_FILE} was not "
                          "written")
    return model_bytes, comparison


@dataclass(frozen=True)
class EndToEnd:
    """A validated end-to-end file, not yet written: its bytes and what it was checked on."""

    model_bytes: bytes
    metadata: OnnxMetadata
    raw: np.ndarray  # the raw test split
    expected: list[np.ndarray]  # what it must give on ``raw``: probabilities and class, or y
    comparison: Comparison


def build_end_to_end(proto: onnx.ModelProto, raw: np.ndarray, keras_outputs: np.ndarray) -> EndToEnd:
    """The end-to-end file of ``proto`` (the validated ``model.onnx``, its metadata set), checked against
    ``keras_outputs`` (the Keras model's outputs) on every raw test sample in ``raw``; ExportError otherwise."""
    metadata = OnnxMetadata.from_props({p.key: p.value for p in proto.metadata_props}, "model.onnx")
    raw = np.asarray(raw)
    if raw.shape[1:] != tuple(metadata.raw_input_shape) or len(raw) != len(keras_outputs):
        raise ExportError(f"{metadata.model_name}: raw test samples of shape {raw.shape} do not match the "
                          f"{len(keras_outputs):,} outputs and raw_input_shape {metadata.raw_input_shape}")
    raw = raw.astype(np.dtype(metadata.raw_input_dtype), copy=False)
    model = end_to_end_model(proto, metadata)
    expected = expected_outputs(keras_outputs, metadata)
    model_bytes, comparison = validate_end_to_end(model, raw, expected, metadata.task)
    return EndToEnd(model_bytes, metadata, raw, expected, comparison)


def write_end_to_end(built: EndToEnd, indices: list[int], folder: Path) -> dict[str, Any]:
    """Write ``built`` and its test vectors (the test samples at ``indices``) under ``folder``; its facts, which
    ``report.json`` records under ``"onnx"`` → ``"end_to_end"``."""
    metadata, names = built.metadata, output_names(built.metadata.task)
    files.write_bytes(folder / END_TO_END_FILE, built.model_bytes)
    vectors = write_vectors(folder / END_TO_END_TEST_DATA_SET, [(metadata.input_name, built.raw[indices])],
                            [(name, e[indices]) for name, e in zip(names, built.expected)])
    return {
        "file": END_TO_END_FILE, **file_facts(folder / END_TO_END_FILE),
        "input": {"name": metadata.input_name, "shape": [None, *metadata.raw_input_shape],
                  "dtype": metadata.raw_input_dtype},
        "outputs": [{"name": name, "shape": [None] if name == CLASS else [None, _width(metadata)],
                     "dtype": "int64" if name == CLASS else "float32"} for name in names],
        "validation": {**asdict(built.comparison), "test_samples": len(built.raw)},
        "test_data_set": {"folder": END_TO_END_TEST_DATA_SET, "test_indices": list(indices),
                          "files": {str(p.relative_to(folder)): file_facts(p) for p in vectors}},
    }


def export_end_to_end(proto: onnx.ModelProto, raw: np.ndarray, keras_outputs: np.ndarray, indices: list[int],
                      folder: Path) -> dict[str, Any]:
    """``build_end_to_end`` then ``write_end_to_end``: nothing is written unless it validates."""
    return write_end_to_end(build_end_to_end(proto, raw, keras_outputs), indices, folder)


def write_vectors(folder: Path, inputs: list[tuple[str, np.ndarray]], outputs: list[tuple[str, np.ndarray]]
                  ) -> list[Path]:
    """``input_K.pb`` and ``output_K.pb`` in ``folder``: TensorProtos named as the graph's tensors, dtypes kept."""
    from onnx import numpy_helper

    written = []
    for kind, tensors in (("input", inputs), ("output", outputs)):
        for k, (name, array) in enumerate(tensors):
            path = folder / f"{kind}_{k}.pb"
            files.write_bytes(path, numpy_helper.from_array(np.ascontiguousarray(array), name=name)
                              .SerializeToString())
            written.append(path)
    return written
