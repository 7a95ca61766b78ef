"""onnxruntime sessions of zoo's exports: opened quietly on the CPU, fed in batches.

Needs onnxruntime and numpy only, so ``zoo predict`` and apps built on zoo stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from zoo.errors import ExportError, first_line

if TYPE_CHECKING:
    import onnx

RUNTIME_BATCH = 1000


def open_session(model: bytes | str, providers: tuple[str, ...] = ("CPUExecutionProvider",)):
    """An onnxruntime session of ``model`` (bytes or a file path; on the CPU unless ``providers`` say
    otherwise), with its start-up chatter off."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(model, options, providers=list(providers))


def run_onnx(session, x: np.ndarray, batch: int = RUNTIME_BATCH) -> np.ndarray:
    """onnxruntime's outputs for ``x``, in batches (the CNN's activations for 10,000 images at once are large)."""
    name = session.get_inputs()[0].name
    parts = [session.run(None, {name: x[i:i + batch]})[0] for i in range(0, len(x), batch)]
    return np.concatenate(parts) if parts else np.empty((0,), np.float32)


def checked_bytes(proto: onnx.ModelProto, what: str) -> bytes:
    """``proto`` serialized once it passes ``onnx.checker`` (full check); ExportError naming ``what`` otherwise."""
    import onnx

    try:
        onnx.checker.check_model(proto, full_check=True)
    except (onnx.checker.ValidationError, onnx.shape_inference.InferenceError) as exc:
        raise ExportError(f"{what} fails onnx.checker: {first_line(exc)}; nothing was written") from exc
    return proto.SerializeToString()
