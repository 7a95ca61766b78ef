"""A Keras model as an ONNX graph of one input and one output: tf2onnx, with the model's state as constants.

tf2onnx converts a ``tf.function`` of the model (as Keras' own ``model.export(format="onnx")``
does). Keras' preprocessing layers that carry state (``Normalization``'s mean and variance,
say) hold it as tensors the function captures, and tf2onnx turns captured tensors that are not
variables into extra graph inputs; here they go back into the graph as constants, so an app
feeds one input and gets the trained model's behaviour.

Needs the TensorFlow backend (tf2onnx converts TensorFlow graphs): a model trained under another
backend is converted by ``convert_to_onnx`` in a TensorFlow child process (``zoo.exports.convert_child``).
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

from zoo.errors import ExportError

if TYPE_CHECKING:
    import keras
    import onnx

OPSET = 15


class UnconvertibleModelError(ExportError):
    """The model uses an operation tf2onnx cannot convert: retrying will not help, changing the model will."""


def unavailable_reason(name: str) -> str | None:
    """Why ``name`` cannot be converted to ONNX here (TensorFlow or tf2onnx not installed), or None.

    Under JAX or PyTorch the conversion runs in a TensorFlow child process
    (``zoo.exports.convert_child``), so only their absence stops it.
    """
    import importlib.util

    missing = [lib for lib in ("tensorflow", "tf2onnx") if importlib.util.find_spec(lib) is None]
    if not missing:
        return None
    return (f"ONNX export skipped: converting to ONNX needs TensorFlow and tf2onnx ({' and '.join(missing)} not "
            f"installed); 'pip install tensorflow tf2onnx', then 'zoo export {name}' exports the saved model.keras")


def convert_to_onnx(model: keras.Model, input_name: str, output_name: str, input_shape: tuple[int, ...],
                    opset: int = OPSET) -> onnx.ModelProto:
    """The Keras model as ONNX, batch dimension dynamic (named ``batch``), input and output renamed.

    Raises ExportError, in one line, when tf2onnx cannot convert the model or the graph does not
    come out with exactly one input and one output.
    """
    import tensorflow as tf
    import tf2onnx

    spec = tf.TensorSpec((None, *input_shape), tf.float32, name=input_name)
    function = tf.function(lambda x: model(x, training=False))
    with _tf2onnx_log() as log, warnings.catch_warnings():
        # Keras' numpy-2 patch of tf2onnx sets np.object, which warns; nothing for the user to act on.
        warnings.simplefilter("ignore", FutureWarning)
        _patch_tf2onnx()
        try:
            constants = _captured_constants(function.get_concrete_function(spec))
            proto, _ = tf2onnx.convert.from_function(function, input_signature=[spec], opset=opset)
        except Exception as exc:  # tf2onnx and TensorFlow raise many kinds
            raise ExportError(f"tf2onnx could not convert the model ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0] if str(exc) else ''}); nothing was written") from exc
    _refuse_unsupported(proto, log)
    graph = proto.graph
    _freeze(graph, constants)
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise ExportError(f"the ONNX graph has {len(graph.input)} inputs and {len(graph.output)} outputs; "
                          "zoo exports models with one input and one output")
    _rename(graph, graph.input[0].name, input_name)
    _rename(graph, graph.output[0].name, output_name)
    for value in (graph.input[0], graph.output[0]):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    return proto


def _patch_tf2onnx() -> None:
    """tf2onnx 1.17 predates numpy 2; Keras ships the patch it applies before its own ONNX export."""
    try:
        from keras.src.export.tf2onnx_lib import patch_tf2onnx
    except ImportError:  # a later Keras without it: a later tf2onnx should not need it
        return
    patch_tf2onnx()


def _captured_constants(concrete) -> dict:
    """The tensors (not variables) a traced function captured, by the name of the placeholder standing for each."""
    import tensorflow as tf

    captured = concrete.captured_inputs
    placeholders = concrete.inputs[len(concrete.inputs) - len(captured):]
    return {p.name: v.numpy() for p, v in zip(placeholders, captured) if v.dtype != tf.resource}


def _freeze(graph: onnx.GraphProto, constants: dict) -> None:
    """Turn graph inputs that stand for captured constants into initializers; drop initializers no node uses."""
    from onnx import numpy_helper

    for value in list(graph.input):
        if value.name in constants:
            graph.input.remove(value)
            graph.initializer.append(numpy_helper.from_array(constants[value.name], value.name))
    used = {name for node in graph.node for name in node.input} | {o.name for o in graph.output}
    for tensor in list(graph.initializer):
        if tensor.name not in used:
            graph.initializer.remove(tensor)


def _refuse_unsupported(proto: onnx.ModelProto, log: list[str]) -> None:
    """ExportError naming the TensorFlow ops tf2onnx left unconverted (e.g. Bucketize, from Discretization)."""
    import onnx

    unknown = sorted({node.op_type for node in proto.graph.node if node.domain in ("", "ai.onnx")
                      and not onnx.defs.has(node.op_type)})
    if unknown or any("Unsupported ops" in line for line in log):
        ops = ", ".join(unknown) or next(line for line in log if "Unsupported ops" in line)
        raise UnconvertibleModelError(f"tf2onnx cannot convert the TensorFlow op(s) {ops} this model uses (a layer tf2onnx "
                          "does not support, e.g. keras.layers.Discretization's Bucketize); use layers it "
                          "converts, or move that step into the data's preprocessing")


@contextlib.contextmanager
def _tf2onnx_log() -> Iterator[list[str]]:
    """tf2onnx's log lines, collected instead of printed: its findings go into zoo's one-line errors."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record.getMessage())

    logger = logging.getLogger("tf2onnx")
    handler, saved = Collect(logging.WARNING), (logger.propagate, list(logger.handlers))
    logger.handlers, logger.propagate = [handler], False
    try:
        yield lines
    finally:
        logger.propagate, logger.handlers = saved[0], saved[1]


def _rename(graph: onnx.GraphProto, old: str, new: str) -> None:
    if old == new:
        return
    for node in graph.node:
        for names in (node.input, node.output):
            for i, name in enumerate(names):
                if name == old:
                    names[i] = new
    for value in (*graph.input, *graph.output, *graph.value_info):
        if value.name == old:
            value.name = new
