"""int8 copies of an ONNX export with onnxruntime's quantizer, and the facts that say whether they pay.

Which quantization, per model kind (measured on the committed exports, docs/mobile-int8-results.md):

- a graph with a ``Conv`` gets **static** QDQ: weights int8 per channel, activations uint8 with
  ranges calibrated on training samples. Dynamic quantization turns Conv into ConvInteger, which
  onnxruntime's CPU EP runs several times slower than float; static QDQ keeps the CNNs within 0.1
  point of float accuracy.
- a graph of dense layers only gets **dynamic** quantization: int8 weights, activations quantized
  per batch at run time. It needs no calibration data; on the MNIST MLPs it is within 0.02 points
  of static, and on ``fashion_linear``, whose inputs are raw 0-255 pixels, static misses the bound.

The settings are onnxruntime's documented choice for x86 CPUs without VNNI, such as the machine
the results were measured on: uint8 activations, int8 weights and ``reduce_range`` (7-bit weights),
which keeps the 8-bit products from saturating; without it, top-1 agreement with float on the
CNNs and MLPs fell from 99.9% to 99.4-99.5% here. Graphs are prepared with ``quant_pre_process`` (shape
inference and basic optimization) as onnxruntime recommends; symbolic shape inference, which needs
sympy and serves transformer models, is skipped.

Whether the copy is worth shipping is decided from measurements, never assumed: ``size_and_speed``
times float and int8 round for round, and an int8 file no smaller than the float one is not written
(tiny models grow: the scales and zero points outweigh the weights saved).
"""

from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from zoo.errors import ExportError

if TYPE_CHECKING:
    import onnx

Mode = Literal["static", "dynamic"]
MODES: tuple[str, ...] = ("static", "dynamic")
CALIBRATION_SAMPLES = 512
CALIBRATION_SEED = 0
QUANTIZATION_KEY = "quantization"  # the metadata key an int8 copy adds, saying how it was made
SPEED_BATCHES = (1, 256)
# int8 counts as faster only above this ratio of samples/s: the CPU is shared and rounds vary.
SPEED_MARGIN = 1.10
# One intra-op thread: on the shared 2-core machine, onnxruntime's default (a thread per core) ran both
# float and int8 2-7x slower than one thread and varied far more from round to round; one thread
# compares the kernels themselves.
SPEED_THREADS = 1


def choose_mode(model: onnx.ModelProto) -> Mode:
    """``static`` for a graph with convolutions, ``dynamic`` for dense layers only (see the module docstring)."""
    return "static" if any(node.op_type == "Conv" for node in model.graph.node) else "dynamic"


def calibration_sample(x_train: np.ndarray, n: int = CALIBRATION_SAMPLES, seed: int = CALIBRATION_SEED) -> np.ndarray:
    """``n`` training inputs drawn without replacement (all of them when there are fewer), float32."""
    x_train = np.asarray(x_train)
    if len(x_train) <= n:
        return x_train.astype(np.float32)
    rows = np.sort(np.random.default_rng(seed).choice(len(x_train), n, replace=False))
    return x_train[rows].astype(np.float32)


def quantize_int8(model: onnx.ModelProto, calibration: np.ndarray | None, mode: Mode, *,
                  reduce_range: bool = True) -> onnx.ModelProto:
    """``model`` quantized to int8 by onnxruntime (``static`` QDQ calibrated on ``calibration``, or ``dynamic``).

    ``reduce_range`` (static only) keeps weights to 7 bits, onnxruntime's advice for x86 CPUs without
    VNNI; ``False`` is there to measure what it costs. The result keeps the graph's input and output
    names and the metadata, plus the key ``quantization`` saying how it was made. ExportError when
    onnxruntime cannot quantize it.
    """
    import onnx
    import onnxruntime as ort
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_dynamic, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    if mode not in MODES:
        raise ExportError(f"unknown int8 mode {mode!r}; use 'static' or 'dynamic'")
    if mode == "static" and (calibration is None or len(calibration) == 0):
        raise ExportError("static int8 quantization needs calibration samples (e.g. 512 training inputs)")
    props = {p.key: p.value for p in model.metadata_props}
    with tempfile.TemporaryDirectory(prefix="zoo-int8-") as tmp:
        source, prepared, output = (Path(tmp) / n for n in ("float.onnx", "prepared.onnx", "int8.onnx"))
        # quant_pre_process mishandles a ModelProto argument (it looks for external data): give it a file.
        onnx.save(model, str(source))
        try:
            quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
            if mode == "static":
                reader = _CalibrationReader(model.graph.input[0].name, np.asarray(calibration, np.float32))
                quantize_static(str(prepared), str(output), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                                reduce_range=reduce_range, activation_type=QuantType.QUInt8,
                                weight_type=QuantType.QInt8)
            else:
                quantize_dynamic(str(prepared), str(output), weight_type=QuantType.QInt8)
            quantized = onnx.load(str(output))
        except Exception as exc:  # onnxruntime's quantizer raises many kinds
            raise ExportError(f"onnxruntime could not quantize the model to int8 ({mode}: "
                              f"{type(exc).__name__}: {str(exc)[:300]})") from exc
    _drop_unused_opsets(quantized)
    bits = "7-bit range" if reduce_range else "full 8-bit range"
    how = (f"int8 static QDQ by onnxruntime {ort.__version__}: int8 weights per channel ({bits}), uint8 "
           f"activations calibrated on {len(calibration)} training samples" if mode == "static" else
           f"int8 dynamic by onnxruntime {ort.__version__}: int8 weights, activations quantized at run time")
    onnx.helper.set_model_props(quantized, {**props, QUANTIZATION_KEY: how})
    return quantized


class _CalibrationReader:
    """onnxruntime's CalibrationDataReader protocol: one sample per call, then None."""

    def __init__(self, input_name: str, x: np.ndarray):
        self._feeds = iter([{input_name: x[i:i + 1]} for i in range(len(x))])

    def get_next(self) -> dict[str, np.ndarray] | None:
        return next(self._feeds, None)


def _drop_unused_opsets(model: onnx.ModelProto) -> None:
    # The preprocessing's optimizer imports every domain onnxruntime knows (training, nchwc, aten...);
    # keep the ones the graph uses, so a mobile or web runtime sees only what it must provide.
    used = {node.domain for node in model.graph.node} | {""}
    keep = [o for o in model.opset_import if o.domain in used or o.domain == "ai.onnx"]
    del model.opset_import[:]
    model.opset_import.extend(keep)


@dataclass(frozen=True)
class Int8Check:
    """int8 against float on the full test split, and on the export's test vectors."""

    mode: str
    metric: str  # "accuracy" or "r2"
    float_value: float  # the float model's (Keras') metric on the test split
    int8_value: float
    bound: float  # the largest |int8 - float| allowed
    test_samples: int
    top1_agreement: float | None  # share of test samples where int8's class is float's; None for regression
    vector_class_mismatches: int | None  # test vectors whose int8 class differs from output_0.pb's; None: regression
    vector_max_abs_diff: float  # max |int8 - output_0.pb| on the test vectors

    @property
    def passed(self) -> bool:
        """Within the bound (NaN fails) and the same class as float on every test vector."""
        return bool(abs(self.int8_value - self.float_value) <= self.bound) and not self.vector_class_mismatches

    def summary(self) -> str:
        """One line: the metric both ways, the bound, and the agreement."""
        text = (f"{self.metric} {self.int8_value:.4f} int8 vs {self.float_value:.4f} float over "
                f"{self.test_samples:,} test samples (bound ±{self.bound:g})")
        if self.top1_agreement is not None:
            text += f"; top-1 agrees with float on {self.top1_agreement:.2%}"
        if self.vector_class_mismatches:
            text += f"; class differs on {self.vector_class_mismatches} of the test vectors"
        return text


# 0.3 points of accuracy; R² is on the same 0..1 scale, so the same 0.003 there.
METRIC_BOUND = 0.003


def score(outputs: np.ndarray, truth: np.ndarray, task: str) -> float:
    """Accuracy (classification) or R² (regression) of ``outputs`` against ``truth``."""
    outputs = np.asarray(outputs)
    if not np.isfinite(outputs).all():
        return float("nan")
    if task == "classification":
        return float(np.mean(outputs.argmax(axis=1) == np.asarray(truth)))
    from sklearn.metrics import r2_score

    return float(r2_score(np.asarray(truth).reshape(len(outputs), -1), outputs.reshape(len(outputs), -1)))


def check_int8(mode: str, int8_outputs: np.ndarray, float_outputs: np.ndarray, truth: np.ndarray, task: str,
               vector_outputs: np.ndarray, vector_expected: np.ndarray) -> Int8Check:
    """Compare int8's outputs with float's on the test split and with ``output_0.pb`` on the test vectors."""
    classification = task == "classification"
    agreement = (float(np.mean(int8_outputs.argmax(axis=1) == float_outputs.argmax(axis=1)))
                 if classification else None)
    mismatches = (int(np.count_nonzero(vector_outputs.argmax(axis=1) != vector_expected.argmax(axis=1)))
                  if classification else None)
    diff = np.abs(np.asarray(vector_outputs, np.float64) - np.asarray(vector_expected, np.float64))
    return Int8Check(mode=mode, metric="accuracy" if classification else "r2",
                     float_value=score(float_outputs, truth, task), int8_value=score(int8_outputs, truth, task),
                     bound=METRIC_BOUND, test_samples=len(truth), top1_agreement=agreement,
                     vector_class_mismatches=mismatches,
                     vector_max_abs_diff=float("nan") if np.isnan(diff).any() else float(diff.max(initial=0.0)))


def size_and_speed(float_bytes: bytes, int8_bytes: bytes, x: np.ndarray, *, seconds: float = 1.0,
                   rounds: int = 10, batches: tuple[int, ...] = SPEED_BATCHES,
                   threads: int = SPEED_THREADS) -> dict[str, Any]:
    """Sizes, and onnxruntime CPU samples/s of float and int8 at each batch size, timed round for round.

    Each round times float and int8 back to back (their order alternating) for about
    ``seconds / rounds / 2`` each; ``int8_speedup`` is the median of the rounds' int8/float ratios,
    so a burst of load from other processes, which slows both sides of a round alike, cancels out.
    ``threads``: onnxruntime's intra-op threads (0: its default, one per core; see ``SPEED_THREADS``).
    ``verdict`` says whether int8 is a size win only or also a speed win (faster by more than ``SPEED_MARGIN``).
    """
    sessions = {"float": _session(float_bytes, threads), "int8": _session(int8_bytes, threads)}
    speed = {}
    for batch in batches:
        feed = np.ascontiguousarray(np.resize(x, (batch, *x.shape[1:])), dtype=np.float32)
        calls = {kind: _caller(s, feed) for kind, s in sessions.items()}
        reps = {kind: _reps_for(call, max(seconds / rounds / 2, 0.002)) for kind, call in calls.items()}
        rates: dict[str, list[float]] = {kind: [] for kind in calls}
        for r in range(rounds):
            for kind in (("float", "int8") if r % 2 == 0 else ("int8", "float")):
                rates[kind].append(batch * reps[kind] / _time(calls[kind], reps[kind]))
        ratios = [q / f for q, f in zip(rates["int8"], rates["float"])]
        speed[f"batch_{batch}"] = {"float_samples_per_s": statistics.median(rates["float"]),
                                   "int8_samples_per_s": statistics.median(rates["int8"]),
                                   "int8_speedup": statistics.median(ratios), "rounds": rounds}
    sizes = {"float_bytes": len(float_bytes), "int8_bytes": len(int8_bytes),
             "size_ratio": len(float_bytes) / len(int8_bytes)}
    return {**sizes, "threads": threads or "onnxruntime's default", "speed": speed,
            "verdict": speed_verdict(sizes["size_ratio"], speed)}


def _session(model_bytes: bytes, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    return ort.InferenceSession(model_bytes, options, providers=["CPUExecutionProvider"])


def _caller(session, feed: np.ndarray) -> Callable[[], object]:
    name = session.get_inputs()[0].name
    return lambda: session.run(None, {name: feed})


def _time(call: Callable[[], object], reps: int) -> float:
    start = time.perf_counter()
    for _ in range(reps):
        call()
    return time.perf_counter() - start


def _reps_for(call: Callable[[], object], seconds: float) -> int:
    call()  # warm-up: the first run allocates
    once = max(_time(call, 3) / 3, 1e-7)
    return max(1, int(seconds / once))


def speed_verdict(size_ratio: float, speed: dict[str, dict[str, float]]) -> str:
    """E.g. ``3.7x smaller; a size win only, not faster on this CPU (0.62x float at batch 1, 0.95x at batch 256)``."""
    smaller = size_ratio > 1
    size = f"{size_ratio:.1f}x smaller" if smaller else f"{1 / size_ratio:.1f}x larger"
    ratios = {key.removeprefix("batch_"): v["int8_speedup"] for key, v in speed.items()}
    faster = [b for b, r in ratios.items() if r > SPEED_MARGIN]
    detail = "int8 at " + ", ".join(f"{r:.2f}x float's samples/s at batch {b}" if i == 0 else f"{r:.2f}x at batch {b}"
                                    for i, (b, r) in enumerate(ratios.items()))
    if faster and len(faster) == len(ratios):
        return f"{size} and faster ({detail})"
    if faster:
        return f"{size}; faster at batch {', '.join(faster)} only ({detail})"
    if smaller:
        return f"{size}; a size win only, not faster on this CPU ({detail})"
    return f"{size} and not faster: no win ({detail})"
