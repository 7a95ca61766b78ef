"""ONNX Runtime inference for the benchmarks: the entry's network converted exactly as ``zoo export`` does."""

from __future__ import annotations

import keras
import numpy as np

from zoo.bench import Case, Skip, Workload, _rows
from zoo.devices import Device
from zoo.export import ONNX_FILE, convert_to_onnx, open_session, tensor_names
from zoo.flops import forward_flops, forward_macs
from zoo.prepare import Prepared
from zoo.run import DEFAULT_OUT
from zoo.specs import DatasetSpec, ModelSpec

PROVIDERS = {"cpu": "CPUExecutionProvider", "gpu": "CUDAExecutionProvider"}


def onnx_inference(case: Case, spec: ModelSpec, dataset: DatasetSpec, model: keras.Model, data: Prepared,
                   device: Device) -> Workload:
    """A workload running ``case.batch_size`` samples through onnxruntime on ``case.device``."""
    import onnxruntime as ort

    provider = PROVIDERS[case.device]
    if provider not in ort.get_available_providers():
        raise Skip(f"onnxruntime {ort.__version__} has no {provider} (install onnxruntime-gpu for GPU cases)")
    model_bytes, origin = onnx_bytes(spec, dataset, model, tuple(data.x_test.shape[1:]))
    session = open_session(model_bytes, (provider,))
    name = session.get_inputs()[0].name
    x = np.ascontiguousarray(_rows(data.x_test, case.batch_size), dtype=np.float32)

    def run():
        return session.run(None, {name: x})  # numpy arrays: the device has finished

    return Workload(case, run, case.batch_size, 1, case.batch_size, forward_flops(model), forward_macs(model),
                    model.count_params(), device, notes={"onnx_model": origin})


_CONVERTED: dict[str, bytes] = {}


def onnx_bytes(spec: ModelSpec, dataset: DatasetSpec, model: keras.Model,
               input_shape: tuple[int, ...]) -> tuple[bytes, str]:
    """The ONNX model to time and where it came from: converted now under the TensorFlow backend (once per
    entry per process: throughput does not depend on the weights), else the committed export, else Skip."""
    if keras.backend.backend() == "tensorflow":
        if spec.name not in _CONVERTED:
            names = tensor_names(spec, dataset, input_shape)
            _CONVERTED[spec.name] = convert_to_onnx(model, *names, input_shape).SerializeToString()
        return _CONVERTED[spec.name], "converted by zoo.export"
    committed = DEFAULT_OUT / spec.name / ONNX_FILE
    if committed.is_file():
        return committed.read_bytes(), str(committed)
    raise Skip(f"ONNX conversion needs the TensorFlow backend (this run uses {keras.backend.backend()}) "
               f"and there is no {committed}")
