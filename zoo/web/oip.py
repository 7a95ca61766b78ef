"""The Open Inference Protocol (KServe v2) REST JSON: a model's signature, infer requests checked, replies built.

Pure functions over numpy arrays and parsed JSON; no server, no onnxruntime. Every problem with a request is
an ``OipError`` (an HTTP status and one line naming the problem) that the app answers as ``{"error": ...}``.
Supported: JSON tensor data (flat row-major, or nested lists); Triton's binary tensor data extension (the
JSON header's length in ``Inference-Header-Content-Length``, then each input's little-endian bytes, as
``"parameters": {"binary_data_size": n}`` declares; outputs in binary when asked with ``"binary_data": true``
or the request's ``"binary_data_output": true``, as tritonclient does by default); an optional request ``id``
echoed back; optional ``outputs`` with Triton's classification extension (``"parameters": {"classification":
k}``, the top ``k`` columns as ``"score:index:label"`` BYTES strings). Other request parameters are ignored.
"""

from __future__ import annotations

import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

PLATFORM = "onnxruntime_onnx"
VERSION = "1"  # every model has one version: the export on disk
DATATYPES = {"bool": "BOOL", "uint8": "UINT8", "uint16": "UINT16", "uint32": "UINT32", "uint64": "UINT64",
             "int8": "INT8", "int16": "INT16", "int32": "INT32", "int64": "INT64", "float16": "FP16",
             "float32": "FP32", "float64": "FP64"}
# onnxruntime's type strings, e.g. "tensor(float)", to numpy dtype names.
ORT_TYPES = {"tensor(bool)": "bool", "tensor(uint8)": "uint8", "tensor(uint16)": "uint16",
             "tensor(uint32)": "uint32", "tensor(uint64)": "uint64", "tensor(int8)": "int8", "tensor(int16)": "int16",
             "tensor(int32)": "int32", "tensor(int64)": "int64", "tensor(float16)": "float16",
             "tensor(float)": "float32", "tensor(double)": "float64"}
HEADER_LENGTH = "inference-header-content-length"


class OipError(Exception):
    """A request the server refuses: ``status`` (4xx) and a one-line ``message``."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: its name, numpy dtype name and shape (-1 for the batch and any other free axis)."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    bounds: tuple[int, int] | None = None  # narrower integer range the model takes (raw_input_range)

    @property
    def datatype(self) -> str:
        return DATATYPES.get(self.dtype, self.dtype.upper())

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass(frozen=True)
class Signature:
    """What a model takes and gives, and the labels of its output columns."""

    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    labels: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)


@dataclass
class Request:
    """A checked infer request: one array per model input (batch first), the outputs asked for, its id."""

    inputs: dict[str, np.ndarray]
    outputs: list[tuple[str, int, bool]]  # (output name, classification k or 0, whether in binary)
    id: str | None
    rows: int


@dataclass
class Reply:
    """An infer reply: its JSON, and the binary outputs' bytes that follow it (if any)."""

    header: dict[str, Any]
    binary: list[bytes]


def model_metadata(signature: Signature) -> dict[str, Any]:
    return {"name": signature.name, "versions": [VERSION], "platform": PLATFORM,
            "inputs": [s.as_json() for s in signature.inputs], "outputs": [s.as_json() for s in signature.outputs],
            "parameters": dict(signature.parameters)}


def parse_json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except RecursionError:
        raise OipError(400, "the request body nests too deeply") from None
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        raise OipError(400, f"the request body is not JSON: {exc}") from None


def decode_request(body: bytes, signature: Signature, header_length: str | None = None) -> Request:
    """The infer request in ``body`` checked against ``signature``; OipError naming the first problem.
    ``header_length``: the Inference-Header-Content-Length header (binary tensor data after the JSON)."""
    binary = None
    if header_length is not None:
        if not header_length.isdigit() or int(header_length) > len(body):
            raise OipError(400, f"Inference-Header-Content-Length {header_length!r} is not a length within the "
                                f"{len(body):,}-byte body")
        body, binary = body[:int(header_length)], memoryview(body)[int(header_length):]
    value = parse_json(body)
    if not isinstance(value, dict):
        raise OipError(400, "the request body must be a JSON object with an \"inputs\" list")
    request_id = value.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise OipError(400, "\"id\" must be a string")
    given = value.get("inputs")
    if not isinstance(given, list) or not given:
        raise OipError(400, "the request needs an \"inputs\" list of tensors")
    specs = {spec.name: spec for spec in signature.inputs}
    arrays: dict[str, np.ndarray] = {}
    offset = 0
    for tensor in given:
        if not isinstance(tensor, dict):
            raise OipError(400, "each of \"inputs\" must be an object with name, shape, datatype and data")
        name = tensor.get("name")
        if name not in specs:
            raise OipError(400, f"model '{signature.name}' has no input {_show(name)}; its input"
                                f"{'s are' if len(specs) > 1 else ' is'} {', '.join(map(repr, specs))}")
        if name in arrays:
            raise OipError(400, f"input '{name}' is given twice")
        arrays[name], offset = decode_tensor(tensor, specs[name], binary, offset)
    if binary is not None and offset != len(binary):
        raise OipError(400, f"the body has {len(binary):,} bytes of binary tensor data; the inputs' "
                            f"binary_data_size add up to {offset:,}")
    missing = [name for name in specs if name not in arrays]
    if missing:
        raise OipError(400, f"input {missing[0]!r} is missing")
    rows = {len(a) for a in arrays.values()}
    if len(rows) > 1:
        raise OipError(400, f"the inputs have different batch sizes: {sorted(rows)}")
    parameters = value.get("parameters")
    binary_out = isinstance(parameters, dict) and parameters.get("binary_data_output") is True
    return Request(arrays, _requested_outputs(value.get("outputs"), signature, binary_out), request_id, rows.pop())


def decode_tensor(tensor: dict[str, Any], spec: TensorSpec, binary: memoryview | None = None, offset: int = 0
                  ) -> tuple[np.ndarray, int]:
    """One input tensor as an array of ``spec``'s dtype and shape, and the offset in ``binary`` after its bytes
    (when its data is binary); OipError naming what is wrong."""
    where = f"input '{spec.name}'"
    parameters = tensor.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise OipError(400, f"{where}: \"parameters\" must be an object")
    datatype = tensor.get("datatype")
    if datatype != spec.datatype:
        raise OipError(400, f"{where} has datatype {_show(datatype)}; the model takes {spec.datatype}")
    shape = tensor.get("shape")
    if not (isinstance(shape, list) and all(isinstance(d, int) and not isinstance(d, bool) and d >= 0
                                            for d in shape)):
        raise OipError(400, f"{where}: \"shape\" must be a list of whole numbers")
    expected = "[" + ", ".join("N" if i == 0 else "*" if d < 0 else str(d) for i, d in enumerate(spec.shape)) + "]"
    if len(shape) != len(spec.shape) or any(d >= 0 and s != d for s, d in zip(shape, spec.shape)):
        raise OipError(400, f"{where} has shape {shape}; the model takes {expected}")
    if shape[0] < 1:
        raise OipError(400, f"{where} has shape {shape}: the batch needs at least one sample")
    size = parameters.get("binary_data_size")
    if size is not None:
        if binary is None:
            raise OipError(400, f"{where} declares binary_data_size but the request has no "
                                "Inference-Header-Content-Length header saying where its JSON ends")
        if "data" in tensor:
            raise OipError(400, f"{where} has both \"data\" and binary_data_size")
        needed = math.prod(shape) * np.dtype(spec.dtype).itemsize
        if not isinstance(size, int) or isinstance(size, bool) or size != needed:
            raise OipError(400, f"{where} has binary_data_size {_show(size)}; shape {shape} of {spec.datatype} "
                                f"needs {needed:,} bytes")
        if offset + size > len(binary):
            raise OipError(400, f"{where}: the body ends {offset + size - len(binary):,} bytes short of its "
                                "binary data")
        values = np.frombuffer(binary[offset:offset + size], np.dtype(spec.dtype).newbyteorder("<"))
        return check_values(values, shape, spec).astype(spec.dtype, copy=True).reshape(shape), offset + size
    data = tensor.get("data")
    if not isinstance(data, list):
        raise OipError(400, f"{where}: \"data\" must be a list of numbers")
    return to_array(data, shape, spec), offset


def to_array(data: list, shape: list[int], spec: TensorSpec) -> np.ndarray:
    """``data`` (flat or nested numbers) as ``spec``'s dtype in ``shape``, every value checked to fit."""
    where = f"input '{spec.name}'"
    try:
        values = np.asarray(data)
    except (ValueError, TypeError, OverflowError):
        raise OipError(400, f"{where}: \"data\" must be a flat list of numbers, or lists nested evenly") from None
    dtype = np.dtype(spec.dtype)
    allowed = "iufb" if dtype.kind == "b" else "iuf"
    if values.dtype.kind not in allowed:
        if values.dtype.kind == "O" and all(isinstance(v, int) for v in np.ravel(values)):
            raise OipError(400, f"{where} holds whole numbers too large for {spec.datatype}")
        raise OipError(400, f"{where}: \"data\" must hold numbers only (found {_kind(values)})")
    count = math.prod(shape)
    if values.size != count:
        raise OipError(400, f"{where} has {values.size:,} values; shape {shape} needs {count:,}")
    return check_values(values, shape, spec).astype(dtype, copy=False).reshape(shape)


def check_values(values: np.ndarray, shape: list[int], spec: TensorSpec) -> np.ndarray:
    """``values`` (numbers, any numeric dtype) when every one fits ``spec`` (finite, whole for integer types,
    within the dtype's range or the model's ``bounds``); OipError otherwise."""
    where = f"input '{spec.name}'"
    dtype = np.dtype(spec.dtype)
    if values.dtype.kind == "f":
        if not np.isfinite(values).all():
            raise OipError(400, f"{where} holds non-finite values (NaN or Infinity)")
    if dtype.kind in "iu":
        if values.dtype.kind == "f" and np.any(values != np.floor(values)):
            raise OipError(400, f"{where} holds values that are not whole numbers; {spec.datatype} takes whole "
                                "numbers")
        info = np.iinfo(dtype)
        low, high = spec.bounds if spec.bounds else (int(info.min), int(info.max))
        if values.size and (values.min() < low or values.max() > high):
            what = "the model takes" if spec.bounds else f"{spec.datatype} holds"
            raise OipError(400, f"{where} holds values from {_number(values.min())} to {_number(values.max())}; "
                                f"{what} whole numbers from {low} to {high}")
    elif dtype.kind == "f" and values.size:
        largest = float(np.max(np.abs(values)))
        if largest > float(np.finfo(dtype).max):
            raise OipError(400, f"{where} holds {largest:g}, beyond the largest {spec.datatype} number")
    return values


def _requested_outputs(outputs: Any, signature: Signature, binary: bool) -> list[tuple[str, int, bool]]:
    if outputs is None:
        return [(spec.name, 0, binary) for spec in signature.outputs]
    if not isinstance(outputs, list) or not all(isinstance(o, dict) for o in outputs):
        raise OipError(400, "\"outputs\" must be a list of objects with a name")
    specs = {spec.name: spec for spec in signature.outputs}
    chosen = []
    for output in outputs:
        name = output.get("name")
        if name not in specs:
            raise OipError(400, f"model '{signature.name}' has no output {_show(name)}; its outputs are "
                                f"{', '.join(map(repr, specs))}")
        parameters = output.get("parameters") or {}
        if not isinstance(parameters, dict):
            raise OipError(400, f"output '{name}': \"parameters\" must be an object")
        k = parameters.get("classification", 0)
        if not isinstance(k, int) or isinstance(k, bool) or k < 0:
            raise OipError(400, f"output '{name}': \"classification\" must be a whole number of classes")
        spec = specs[name]
        if k and not (len(spec.shape) == 2 and spec.dtype.startswith("float") and signature.labels
                      and spec.shape[1] in (-1, len(signature.labels))):
            raise OipError(400, f"output '{name}' is not one score per class; the classification extension "
                                f"applies to {_score_outputs(signature) or 'no output of this model'}")
        as_binary = parameters.get("binary_data", binary)
        if not isinstance(as_binary, bool):
            raise OipError(400, f"output '{name}': \"binary_data\" must be true or false")
        chosen.append((name, k, as_binary))
    return chosen


def _score_outputs(signature: Signature) -> str:
    return ", ".join(repr(s.name) for s in signature.outputs if len(s.shape) == 2 and s.dtype.startswith("float")
                     and signature.labels and s.shape[1] in (-1, len(signature.labels)))


def encode_reply(signature: Signature, request: Request, results: dict[str, np.ndarray]) -> Reply:
    """The infer reply for ``request`` given the model's ``results`` (every output, batch first)."""
    specs = {spec.name: spec for spec in signature.outputs}
    outputs, binary = [], []
    for name, k, as_binary in request.outputs:
        array = results[name]
        if k:
            output = {"name": name, "datatype": "BYTES", "shape": [len(array), min(k, array.shape[1])]}
            strings = classification(array, k, signature.labels)
            if as_binary:
                binary.append(b"".join(struct.pack("<I", len(b)) + b for b in (t.encode() for t in strings)))
            else:
                output["data"] = strings
        else:
            output = {"name": name, "datatype": specs[name].datatype, "shape": list(array.shape)}
            if as_binary:
                binary.append(np.ascontiguousarray(array, array.dtype.newbyteorder("<")).tobytes())
            elif array.dtype.kind == "f" and not np.isfinite(array).all():
                raise OipError(400, f"the model's output '{name}' is not finite (NaN or Infinity) for this input, "
                                    "which JSON cannot carry; ask for it in binary, or check the input's values")
            else:
                output["data"] = array.ravel().tolist()
        if as_binary:
            output["parameters"] = {"binary_data_size": len(binary[-1])}
        outputs.append(output)
    header: dict[str, Any] = {"model_name": signature.name, "model_version": VERSION}
    if request.id is not None:
        header["id"] = request.id
    header["outputs"] = outputs
    return Reply(header, binary)


def classification(scores: np.ndarray, k: int, labels: tuple[str, ...]) -> list[str]:
    """Triton's classification strings, row by row, best first: ``"score:index:label"`` (score as C's %f)."""
    k = min(k, scores.shape[1])
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return [f"{float(row[i]):f}:{int(i)}" + (f":{labels[i]}" if i < len(labels) else "")
            for row, indices in zip(scores, order) for i in indices]


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else "(none)" if value is None else json.dumps(value)[:60]


def _kind(values: np.ndarray) -> str:
    return {"U": "strings", "S": "strings", "b": "true/false", "O": "null, strings or objects"}.get(
        values.dtype.kind, str(values.dtype))


def _number(value: Any) -> str:
    return str(int(value)) if float(value).is_integer() else f"{float(value):g}"
