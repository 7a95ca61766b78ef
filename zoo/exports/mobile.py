"""Copies of an ONNX export for phones: batch fixed, rated by onnxruntime's mobile checker, in ORT format.

Everything here is onnxruntime's own tooling, called as Python rather than as scripts:

- ``fixed_batch``: ``onnxruntime.tools.onnx_model_utils.make_input_shape_fixed`` and ``fix_output_shapes``,
  the two calls behind ``python -m onnxruntime.tools.make_dynamic_shape_fixed``;
- ``mobile_usability``: the steps of ``python -m onnxruntime.tools.check_onnx_model_mobile_usability``
  (``mobile_helpers.usability_checker``), whose entry point only logs its per-EP verdicts and returns
  one bool; here the same functions return them as data;
- ``ort_format_bytes`` / ``to_ort_format``: ``onnxruntime.tools.convert_onnx_models_to_ort``.

Why a fixed batch: NNAPI cannot run a node whose input has a dynamic shape, and CoreML runs them
slowly, so the checker rates every zoo export (batch dimension ``batch``, dynamic) "NO" for NNAPI and
both CoreML formats; with the batch fixed to 1 every built-in entry rates "YES" for all three
(docs/mobile-int8-results.md).

Functions take a model and return facts; nothing here writes into an export folder except
``to_ort_format``, which writes one file atomically.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from zoo import files
from zoo.errors import ExportError

if TYPE_CHECKING:
    import onnx

# The metadata key a fixed-batch copy adds: how many samples each run takes. The zoo keys keep
# describing one sample (``input_shape`` keeps its null batch), so zoo.onnx/1 readers accept the copy.
FIXED_BATCH_KEY = "fixed_batch"
# The checker's execution providers, with the supported-operator table each is checked against.
MOBILE_EPS = ("NNAPI", "CoreML NeuralNetwork", "CoreML MLProgram")
# "Runtime" keeps only the basic (ONNX-operator) optimizations in the file and saves the rest to replay
# at load time: onnxruntime's advice for NNAPI and CoreML, which cannot run the fused contrib operators
# that "Fixed" would bake in. The CPU EP runs the file either way.
ORT_OPTIMIZATION_STYLE = "Runtime"


def fixed_batch(model: onnx.ModelProto, batch: int = 1) -> onnx.ModelProto:
    """A copy of ``model`` whose inputs and outputs take exactly ``batch`` samples; same graph and metadata.

    Adds the metadata key ``fixed_batch``. ExportError if an input has another dynamic dimension or
    an output's shape does not become fixed (the copy would not help a mobile EP).
    """
    import onnx
    from onnxruntime.tools.onnx_model_utils import fix_output_shapes, is_fixed_size_tensor, make_input_shape_fixed

    if batch < 1:
        raise ExportError(f"fixed batch size must be at least 1, not {batch}")
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    for value in fixed.graph.input:
        dims = value.type.tensor_type.shape.dim
        rest = [d.dim_value if d.HasField("dim_value") else None for d in dims[1:]]
        if None in rest:
            raise ExportError(f"input {value.name!r} has a dynamic dimension besides the batch ({_shape(value)}); "
                              "only the batch dimension can be fixed")
        try:
            make_input_shape_fixed(fixed.graph, value.name, [batch, *rest])
        except ValueError as exc:  # onnxruntime's tool raises ValueError for a shape it cannot set
            raise ExportError(f"cannot fix the batch of input {value.name!r}: {exc}") from exc
    fix_output_shapes(fixed)
    dynamic = [o for o in fixed.graph.output if not is_fixed_size_tensor(o)]
    if dynamic:
        raise ExportError(f"output {dynamic[0].name!r} keeps a dynamic shape ({_shape(dynamic[0])}) with the batch "
                          f"fixed to {batch}")
    onnx.helper.set_model_props(fixed, {**{p.key: p.value for p in fixed.metadata_props},
                                        FIXED_BATCH_KEY: str(batch)})
    return fixed


def _shape(value: onnx.ValueInfoProto) -> str:
    return "[" + ", ".join(d.dim_param or str(d.dim_value) if (d.dim_param or d.dim_value) else "?"
                           for d in value.type.tensor_type.shape.dim) + "]"


@dataclass(frozen=True)
class EpRating:
    """The mobile checker's rating of a model for one execution provider."""

    ep: str  # "NNAPI", "CoreML NeuralNetwork" or "CoreML MLProgram"
    verdict: str  # onnxruntime's TryWithEP name for the model as it is: "YES", "MAYBE" or "NO"
    if_shapes_fixed: str | None  # the same if its dynamic shapes were fixed; None when the checker skips it
    nodes: int
    supported_nodes: int
    partitions: int
    unsupported_ops: list[str]
    nodes_unsupported_for_dynamic_shape: int


def mobile_usability(model_path: str | Path) -> dict[str, Any]:
    """onnxruntime's mobile usability check of the ONNX file at ``model_path``, as data.

    Follows ``check_onnx_model_mobile_usability`` step for step: optimize to the BASIC level (as
    the ORT-format conversion will), infer shapes, find dynamic inputs, then estimate for each EP
    in ``MOBILE_EPS`` how the graph would be partitioned. Returns ``{"checker", "onnxruntime",
    "dynamic_inputs", "verdicts": {ep: "YES"|"MAYBE"|"NO"}, "usable": bool, "eps": {ep: details}}``;
    ``usable`` is true when every EP rates the model "YES" as it is.
    """
    import onnxruntime as ort
    from onnxruntime.tools.mobile_helpers import usability_checker as uc
    from onnxruntime.tools.onnx_model_utils import ModelProtoWithShapeInfo, optimize_model

    model_path = Path(model_path)
    if not model_path.is_file():
        raise ExportError(f"{model_path}: no such ONNX file to check")
    with tempfile.TemporaryDirectory(prefix="zoo-mobile-check-") as tmp, _quiet_logger() as logger:
        optimized = Path(tmp) / model_path.name
        optimize_model(model_path, optimized, use_external_initializers=True)
        model = ModelProtoWithShapeInfo(optimized).model_with_shape_info
        dynamic_inputs, _ = uc.check_shapes(model.graph, logger)
        checks = {
            "NNAPI": uc.check_nnapi_partitions,
            "CoreML NeuralNetwork": lambda m, fixed: uc.check_coreml_partitions(
                m, fixed, "coreml_supported_neuralnetwork_ops.md"),
            "CoreML MLProgram": lambda m, fixed: uc.check_coreml_partitions(
                m, fixed, "coreml_supported_mlprogram_ops.md"),
        }
        ratings = [_rate(ep, checks[ep], model, bool(dynamic_inputs)) for ep in MOBILE_EPS]
    return {
        "checker": "onnxruntime.tools.check_onnx_model_mobile_usability",
        "onnxruntime": ort.__version__,
        "dynamic_inputs": [i.name for i in dynamic_inputs],
        "verdicts": {r.ep: r.verdict for r in ratings},
        "usable": all(r.verdict == "YES" for r in ratings),
        "eps": {r.ep: asdict(r) for r in ratings},
    }


def _rate(ep: str, check, model: onnx.ModelProto, has_dynamic_inputs: bool) -> EpRating:
    # As usability_checker.checker's check_ep: rated with shapes as they are, and, when that is not
    # YES and an input is dynamic, as if the shapes were fixed.
    info = check(model, True)
    verdict = info.suitability().name
    if_fixed = None
    if verdict != "YES" and has_dynamic_inputs:
        if_fixed = check(model, False).suitability().name
    return EpRating(ep=ep, verdict=verdict, if_shapes_fixed=if_fixed, nodes=int(info.num_nodes),
                    supported_nodes=int(info.num_supported_nodes), partitions=int(info.num_partitions),
                    unsupported_ops=sorted(info.unsupported_ops),
                    nodes_unsupported_for_dynamic_shape=int(info.nodes_unsupported_due_to_dynamic_input))


@contextlib.contextmanager
def _quiet_logger() -> Iterator[logging.Logger]:
    # check_shapes warns through the logger it is given; zoo reports the outcome, not the chatter.
    logger = logging.getLogger("zoo.exports.mobile.usability_checker")
    logger.propagate = False
    logger.setLevel(logging.ERROR)
    yield logger


def ort_format_bytes(onnx_path: str | Path, style: str = ORT_OPTIMIZATION_STYLE) -> bytes:
    """The ORT-format model of the ONNX file at ``onnx_path``, converted by ``convert_onnx_models_to_ort``.

    Converted in a temporary folder (the tool also writes a required-operators config for
    minimal builds, not kept), so nothing appears beside ``onnx_path``.
    """
    from onnxruntime.tools.convert_onnx_models_to_ort import OptimizationStyle, convert_onnx_models_to_ort

    onnx_path = Path(onnx_path)
    if not onnx_path.is_file():
        raise ExportError(f"{onnx_path}: no such ONNX file to convert to ORT format")
    with tempfile.TemporaryDirectory(prefix="zoo-ort-") as tmp, _converter_silenced():
        out = Path(tmp)
        try:
            convert_onnx_models_to_ort(onnx_path, output_dir=out, optimization_styles=[OptimizationStyle[style]])
        except Exception as exc:  # onnxruntime's errors share no base class
            raise ExportError(f"onnxruntime could not convert {onnx_path.name} to ORT format "
                              f"({type(exc).__name__}: {str(exc)[:300]})") from exc
        converted = sorted(out.glob("*.ort"))
        if len(converted) != 1:
            raise ExportError(f"the ORT converter wrote {len(converted)} .ort files for {onnx_path.name}, "
                              "expected 1")
        return converted[0].read_bytes()


@contextlib.contextmanager
def _converter_silenced() -> Iterator[None]:
    # The converter prints its progress and logs through "ort_format_model.utils".
    ort_logger = logging.getLogger("ort_format_model.utils")
    level = ort_logger.level
    ort_logger.setLevel(logging.WARNING)
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            yield
    finally:
        ort_logger.setLevel(level)


def to_ort_format(onnx_path: str | Path, dest_folder: str | Path, style: str = ORT_OPTIMIZATION_STYLE) -> Path:
    """Convert the ONNX file at ``onnx_path`` to ``dest_folder/<stem>.ort`` (written atomically); its path."""
    onnx_path = Path(onnx_path)
    dest = Path(dest_folder) / f"{onnx_path.stem}.ort"
    files.write_bytes(dest, ort_format_bytes(onnx_path, style))
    return dest
