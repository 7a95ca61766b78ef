"""``zoo export --triton DIR``: entries as a Triton Inference Server model repository.

Each entry becomes ``DIR/NAME/``, the layout Triton's model repository documents:

- ``1/model.onnx``: the entry's end-to-end export (raw sample in, probabilities and class out), so a Triton
  client sends what the user has (e.g. 28x28 uint8 pixels) and no zoo preprocessing is needed;
- ``config.pbtxt``: platform ``onnxruntime_onnx``, the inputs and outputs as the graph declares them (the
  batch axis left to ``max_batch_size``), dynamic batching with a bounded queue delay;
- ``labels.txt``: one class name per line, in output order, named by the probabilities output's
  ``label_filename``, so Triton's classification extension answers ``score:index:label``.

The config is checked against Triton's own ``ModelConfig`` protobuf schema (``tritonclient``'s
``model_config_pb2``) when that is installed, and always against the graph it describes. Each entry's
folder is written whole or not at all (``zoo.files.staged_folder``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from zoo import files
from zoo.errors import ExportError
from zoo.exports.manifest import END_TO_END_FILE

LABELS_FILE = "labels.txt"
CONFIG_FILE = "config.pbtxt"
MODEL_VERSION = "1"
DEFAULT_MAX_BATCH_SIZE = 256
DEFAULT_QUEUE_DELAY_US = 1000
# ONNX TensorProto element types -> Triton's data types.
TRITON_TYPES = {1: "TYPE_FP32", 2: "TYPE_UINT8", 3: "TYPE_INT8", 4: "TYPE_UINT16", 5: "TYPE_INT16", 6: "TYPE_INT32",
                7: "TYPE_INT64", 9: "TYPE_BOOL", 10: "TYPE_FP16", 11: "TYPE_FP64", 12: "TYPE_UINT32",
                13: "TYPE_UINT64"}


class TritonError(ExportError):
    """An entry that cannot become a Triton model; the message says why and what to do."""


@dataclass(frozen=True)
class Tensor:
    """One graph input or output as Triton sees it: its name, Triton type, and dims without the batch axis."""

    name: str
    data_type: str
    dims: tuple[int, ...]

    def to_pbtxt(self, label_filename: str | None = None) -> str:
        """The tensor's block in ``config.pbtxt``."""
        # A tensor that is only the batch axis (the class index) is declared [1] and reshaped to [] for Triton.
        dims = self.dims or (1,)
        parts = [f'name: "{self.name}"', f"data_type: {self.data_type}", f"dims: [ {', '.join(map(str, dims))} ]"]
        if not self.dims:
            parts.append("reshape: { shape: [ ] }")
        if label_filename:
            parts.append(f'label_filename: "{label_filename}"')
        return "  {\n    " + "\n    ".join(parts) + "\n  }"


def graph_tensors(model_bytes: bytes, path: Path) -> tuple[list[Tensor], list[Tensor], dict[str, str]]:
    """The inputs, outputs and metadata_props of an ONNX file, with a dynamic batch axis required on each tensor."""
    import onnx

    try:
        proto = onnx.load_from_string(model_bytes)
    except Exception as exc:  # protobuf's DecodeError and onnx's own errors share no useful base
        raise TritonError(f"{path}: not a readable ONNX model ({exc}); run 'zoo export' again") from exc
    initializers = {init.name for init in proto.graph.initializer}

    def tensor(value) -> Tensor:
        kind = value.type.tensor_type
        shape = [d.dim_value if d.HasField("dim_value") else -1 for d in kind.shape.dim]
        if not shape or shape[0] != -1:
            raise TritonError(f"{path}: tensor {value.name!r} has no dynamic batch axis (shape {shape}), which "
                              "Triton's batching needs; export it again with this zoo")
        if kind.elem_type not in TRITON_TYPES:
            raise TritonError(f"{path}: tensor {value.name!r} has ONNX element type {kind.elem_type}, which "
                              "Triton's data types do not cover")
        return Tensor(value.name, TRITON_TYPES[kind.elem_type], tuple(shape[1:]))

    inputs = [tensor(v) for v in proto.graph.input if v.name not in initializers]
    outputs = [tensor(v) for v in proto.graph.output]
    return inputs, outputs, {p.key: p.value for p in proto.metadata_props}


def model_config(name: str, inputs: list[Tensor], outputs: list[Tensor], *, labelled: str | None,
                 max_batch_size: int = DEFAULT_MAX_BATCH_SIZE, queue_delay_us: int = DEFAULT_QUEUE_DELAY_US) -> str:
    """``config.pbtxt`` text for one model; ``labelled`` names the output that ``labels.txt`` describes."""
    blocks_in = ",\n".join(t.to_pbtxt() for t in inputs)
    blocks_out = ",\n".join(t.to_pbtxt(LABELS_FILE if t.name == labelled else None) for t in outputs)
    return (f'name: "{name}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: {max_batch_size}\n'
            f"input [\n{blocks_in}\n]\noutput [\n{blocks_out}\n]\n"
            f"dynamic_batching {{\n  max_queue_delay_microseconds: {queue_delay_us}\n}}\n")


def check_config(text: str, name: str, inputs: list[Tensor], outputs: list[Tensor]) -> None:
    """Parse ``text`` with Triton's ``ModelConfig`` schema (when tritonclient is installed) and compare with the graph."""
    try:
        from google.protobuf import text_format
        from tritonclient.grpc import model_config_pb2
    except ImportError:
        return  # the graph itself was the source of every field; the schema check needs tritonclient
    config = model_config_pb2.ModelConfig()
    try:
        text_format.Parse(text, config)
    except text_format.ParseError as exc:
        raise TritonError(f"{name}: config.pbtxt does not parse as Triton's ModelConfig ({exc})") from exc
    declared = [(t.name, model_config_pb2.DataType.Name(t.data_type), tuple(t.dims) if not t.HasField("reshape")
                 else ()) for t in (*config.input, *config.output)]
    expected = [(t.name, t.data_type, t.dims) for t in (*inputs, *outputs)]
    if declared != expected:
        raise TritonError(f"{name}: config.pbtxt declares {declared}, the graph has {expected}")


def labels_text(metadata: dict[str, str], path: Path) -> str | None:
    """``labels.txt``'s text from the export's ``class_names``, or None for a regression entry."""
    try:
        names = json.loads(metadata.get("class_names", "[]"))
    except ValueError as exc:
        raise TritonError(f"{path}: its class_names metadata is not JSON; run 'zoo export' again") from exc
    if not names:
        return None
    if any("\n" in str(label) or "\r" in str(label) for label in names):
        raise TritonError(f"{path}: a class name holds a line break, which labels.txt cannot hold; rename the class")
    return "".join(f"{label}\n" for label in names)


def verified_end_to_end(root: Path, name: str) -> bytes:
    """``root/NAME/end_to_end/model.onnx``'s bytes, checked against the sha256 ``root/manifest.json`` records
    (``zoo predict``'s check)."""
    from zoo.exports.predict import verified_bytes
    from zoo.exports.samples import PredictError

    try:
        return verified_bytes(name, root, END_TO_END_FILE)
    except PredictError as exc:
        raise TritonError(str(exc)) from exc


def write_triton_model(root: str | Path, name: str, repository: str | Path, *,
                       max_batch_size: int = DEFAULT_MAX_BATCH_SIZE) -> Path:
    """Write ``name``'s end-to-end export under ``root`` as ``repository/NAME/``; returns that folder."""
    root, repository = Path(root), Path(repository)
    model_bytes = verified_end_to_end(root, name)
    path = root / name / END_TO_END_FILE
    inputs, outputs, metadata = graph_tensors(model_bytes, path)
    labels = labels_text(metadata, path)
    labelled = "probabilities" if labels and any(t.name == "probabilities" for t in outputs) else None
    config = model_config(name, inputs, outputs, labelled=labelled, max_batch_size=max_batch_size)
    check_config(config, name, inputs, outputs)
    files.check_writable(repository)
    with files.staged_folder(repository / name) as staging:
        files.write_bytes(staging / MODEL_VERSION / "model.onnx", model_bytes)
        files.write_text(staging / CONFIG_FILE, config)
        if labels is not None:
            files.write_text(staging / LABELS_FILE, labels)
    return repository / name
