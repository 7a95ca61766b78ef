"""Throughput of every entry: training steps, Keras inference and ONNX Runtime inference, on CPU and GPU.

ONNX Runtime times three files of each entry: the float export (``infer_onnx``), the int8 copy
``zoo export --int8`` writes (``infer_int8``) and the batch-1 ORT-format copy ``zoo export --mobile``
writes (``infer_mobile``), the last two on the CPU only.

The pytest-benchmark suite in ``benchmarks/`` times these workloads with pytest-benchmark;
``zoo bench`` times the same workloads with ``measure``. Both turn timings into the same
figures, named as timm's benchmark names them (``train_samples_per_sec``,
``infer_samples_per_sec``, ``step_time_ms``, ``batch_size``, ``param_count``, ``gmacs``).
"""

from __future__ import annotations

import hashlib
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np

from zoo import api, environment
from zoo.bench_data import bench_data, first_rows
from zoo.devices import Device, gpu_names, resolve_device
from zoo.errors import ExportError
from zoo.flops import forward_flops, forward_macs, training_flops
from zoo.memory import PeakWindow
from zoo.precision import FLOAT32, building_under, check
from zoo.precision import LABELS as PRECISION_LABELS
from zoo.prepare import Prepared
from zoo.seeding import set_seed
from zoo.specs import DatasetSpec, ModelSpec
from zoo.steady_clock import WARM_STEPS, SteadyClock
from zoo.training import TrainSettings, fit_model

DEVICES = ("cpu", "gpu")
# "train": zoo's training path; "train_plain": a plain Keras script fitting the same model on the same
# arrays, timed round for round against "train" by `overhead` to give zoo's speedup over it.
TRAIN_MODES = ("train", "train_plain")
INFER_MODES = ("infer_keras", "infer_onnx", "infer_int8", "infer_mobile")
CASE_MODES = ("train", *INFER_MODES)
INFER_BATCHES = (1, 256)
MODE_BATCHES = {"infer_mobile": (1,)}  # the mobile copy's batch is fixed to 1
# The int8 and mobile copies are what a CPU runs (a server's, a phone's): a GPU has nothing to show for them.
CPU_ONLY_MODES = ("infer_int8", "infer_mobile")
CPU_ONLY_REASON = "int8 and mobile copies are timed on CPU (onnxruntime's CPU kernels)"
TRAIN_STEPS = 100  # optimizer steps in one timed training round
# Entries whose steps are light (zoo.execution.HEAVY_STEP_FLOPS) train this many a round instead: a fit call's
# fixed start-up (tens of milliseconds: Keras builds the input pipeline and callbacks) would otherwise weigh as
# much as 100 of their steps, while their real runs are single fit calls of 1,500 (iris_mlp) to 4,690 steps.
LIGHT_TRAIN_STEPS = 1000


class Skip(Exception):
    """A case that cannot run here; the message says why (e.g. no GPU)."""


@dataclass(frozen=True)
class Case:
    """One benchmark: an entry, a mode, a device and (for inference) a batch size."""

    model: str
    mode: str
    device: str
    batch_size: int | None = None  # None: the entry's own training batch size
    precision: str = FLOAT32  # what a training case computes in (zoo.precision)

    @property
    def id(self) -> str:
        """A test id such as ``mnist_cnn-infer_onnx-cpu-b256`` or ``mnist_cnn-train-cpu-mixed_bfloat16``."""
        return "-".join([self.model, self.mode, self.device] + ([f"b{self.batch_size}"] if self.batch_size else [])
                        + ([self.precision] if self.precision != FLOAT32 else []))


def cases(models: Sequence[str], devices: Sequence[str] = DEVICES, modes: Sequence[str] = CASE_MODES,
          precisions: Sequence[str] = (FLOAT32,)) -> list[Case]:
    """Every case for ``models`` on ``devices``: training (once in each of ``precisions``), then inference at batch
    1 and 256 (the mobile copy at batch 1 only; the int8 and mobile copies on the CPU only)."""
    found = []
    for model in models:
        for device in devices:
            if "train" in modes:
                found += [Case(model, "train", device, precision=check(p)) for p in precisions]
            inference = [m for m in INFER_MODES if m in modes and (device == "cpu" or m not in CPU_ONLY_MODES)]
            found += [Case(model, mode, device, b) for mode in inference for b in MODE_BATCHES.get(mode, INFER_BATCHES)]
    return found


@dataclass
class Workload:
    """One timed round of a case, ready to run, and how much work a round is."""

    case: Case
    run: Callable[[], object]  # returns only when the device has finished the round
    samples: int  # samples one round processes
    steps: int  # batches one round processes
    batch_size: int
    flops_per_sample: int
    macs_per_sample: int
    param_count: int
    device: Device
    notes: dict = field(default_factory=dict)
    # Training rounds also time their steady state: from the end of batch WARM_STEPS to the end of the
    # round, leaving out the fixed cost of starting a fit call, which would otherwise weigh on small models.
    steady_steps: int = 0
    steady_seconds: list[float] = field(default_factory=list)
    steps_per_execution: int = 1  # training steps per backend call in this workload
    # Peak memory from the start of prepare_workload to the figures (the model's build, warm-up and rounds).
    memory: PeakWindow | None = None


def backend_label() -> str:
    """The backend as a user names it: TensorFlow, JAX or PyTorch."""
    return {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}.get(environment.backend(),
                                                                             environment.backend())


def bench_device(kind: str) -> Device:
    """The device for a case; a GPU case with no GPU raises Skip with the reason."""
    if kind == "gpu" and not gpu_names():
        raise Skip(f"no GPU visible to {backend_label()}")
    return resolve_device(kind)


def prepare_workload(case: Case, *, data_dir: str | Path | None = None, steps: int | None = None,
                     exports: str | Path | None = None) -> Workload:
    """Build the model and data of ``case`` on its device, warmed up and ready to time; Skip if impossible.

    Training rounds are ``steps`` optimizer steps, by default ``round_steps``. The model comes from
    ``zoo.create_model``, as a user's would. ONNX cases convert it now under
    the TensorFlow backend, else time the export ``zoo predict`` would use (``exports``, else the
    reference set or the user's runs). ``infer_int8`` and ``infer_mobile`` time the copies of that ONNX
    model ``zoo export --int8`` and ``--mobile`` would write (``int8_copy``, ``mobile_copy``).
    """
    if case.mode in CPU_ONLY_MODES and case.device != "cpu":
        raise Skip(CPU_ONLY_REASON)
    if case.mode == "infer_mobile" and case.batch_size != 1:
        raise Skip(f"the mobile copy's batch is fixed to 1, not {case.batch_size}")
    spec = api.get_spec(case.model)
    dataset = api.get_dataset(spec.dataset)
    device = bench_device(case.device)
    data = bench_data(spec, dataset, str(data_dir) if data_dir else None)
    memory = PeakWindow(environment.backend()).start()  # the data is shared by the cases: counted before
    set_seed(0)
    with keras.device(device.keras_name):
        with building_under(case.precision):
            model = api.create_model(case.model)
        if case.mode in TRAIN_MODES:
            workload = _training(case, spec, model, data, device, steps or round_steps(model, spec.fit.batch_size))
        elif case.mode == "infer_keras":
            workload = _keras_inference(case, model, data, device)
        else:
            workload = _onnx_inference(case, spec, dataset, model, data, device, exports)
    workload.memory = memory
    del data  # the rounds keep what they use: the whole prepared set need not be alive at the warm-up's peak
    workload.run()  # warm-up: tracing, compilation, allocation
    return workload


def _training(case: Case, spec: ModelSpec, model: keras.Model, data: Prepared, device: Device,
              steps: int) -> Workload:
    batch = spec.fit.batch_size
    n = steps * batch
    x, y = first_rows(data.x_train, n), first_rows(data.y_train, n)
    clock = SteadyClock(WARM_STEPS)
    if case.mode == "train":
        # zoo's path: the same fit call and callbacks as `zoo run` (repeated batches where the entry uses them),
        # without the per-epoch backup, which `zoo run` writes between epochs, not steps.
        settings = TrainSettings(1, batch, steps if spec.fit.steps_per_epoch else None, validate=False)
        subset = Prepared(x, y, data.x_test, data.y_test, data.truth)

        def fit():
            return fit_model(model, subset, settings, verbose=0, callbacks=[clock])
    else:
        def fit():
            return model.fit(x, y, batch_size=batch, epochs=1, shuffle=True, verbose=0, callbacks=[clock])
    workload = Workload(case, lambda: None, n, steps, batch, training_flops(model), forward_macs(model),
                        model.count_params(), device, steady_steps=steps - WARM_STEPS)

    def run():
        with keras.device(device.keras_name):
            fit()  # returns once the device has finished: Keras reads the epoch's metrics
        end = time.perf_counter()
        workload.steps_per_execution = model.steps_per_execution
        workload.steady_steps, seconds = clock.steady(steps, end)
        workload.steady_seconds.append(seconds)

    workload.run = run
    return workload


def round_steps(model: keras.Model, batch_size: int) -> int:
    """Optimizer steps in one timed training round of ``model``: LIGHT_TRAIN_STEPS for light steps, else TRAIN_STEPS."""
    from zoo.execution import HEAVY_STEP_FLOPS

    return LIGHT_TRAIN_STEPS if training_flops(model) * batch_size < HEAVY_STEP_FLOPS else TRAIN_STEPS


def _keras_inference(case: Case, model: keras.Model, data: Prepared, device: Device) -> Workload:
    x = np.ascontiguousarray(first_rows(data.x_test, case.batch_size))

    def run():
        with keras.device(device.keras_name):
            return model.predict_on_batch(x)  # a numpy array: the device has finished

    return Workload(case, run, case.batch_size, 1, case.batch_size, forward_flops(model), forward_macs(model),
                    model.count_params(), device)


PROVIDERS = {"cpu": "CPUExecutionProvider", "gpu": "CUDAExecutionProvider"}


def _onnx_inference(case: Case, spec: ModelSpec, dataset: DatasetSpec, model: keras.Model, data: Prepared,
                    device: Device, exports: str | Path | None) -> Workload:
    """A workload running ``case.batch_size`` samples through onnxruntime on ``case.device``: the float
    ONNX model, or its int8 or mobile copy (``case.mode``)."""
    import onnxruntime as ort

    from zoo.exports.runtime import open_session

    provider = PROVIDERS[case.device]
    if provider not in ort.get_available_providers():
        raise Skip(f"onnxruntime {ort.__version__} has no {provider} (install onnxruntime-gpu for GPU cases)")
    float_bytes, origin = onnx_bytes(spec, dataset, model, tuple(data.x_test.shape[1:]), exports)
    model_bytes, notes = _timed_file(case, float_bytes, data)
    session = open_session(model_bytes, (provider,))
    name = session.get_inputs()[0].name
    x = np.ascontiguousarray(first_rows(data.x_test, case.batch_size), dtype=np.float32)

    def run():
        return session.run(None, {name: x})  # numpy arrays: the device has finished

    return Workload(case, run, case.batch_size, 1, case.batch_size, forward_flops(model), forward_macs(model),
                    model.count_params(), device,
                    notes={"onnx_model": origin, "onnx_bytes": len(model_bytes), **notes})


def _timed_file(case: Case, float_bytes: bytes, data: Prepared) -> tuple[bytes, dict]:
    """The model file ``case`` times, made from the float ONNX model, and what its results note about it."""
    if case.mode == "infer_int8":
        copy = int8_copy(case.model, float_bytes, data.x_train)
        return copy.model_bytes, {"quantization": copy.mode}
    if case.mode == "infer_mobile":
        return mobile_copy(float_bytes), {"model_format": "ort", "fixed_batch": 1}
    return float_bytes, {}


@dataclass(frozen=True)
class Int8Copy:
    """The int8 copy of an entry's float ONNX model, and how it was quantized."""

    model_bytes: bytes
    mode: str  # "static" or "dynamic" (zoo.exports.quantize.choose_mode)


# (entry, sha256 of the float model, sha256 of the calibration sample): its int8 copy, or why there is none.
# Quantized once per process and data, as _CONVERTED converts once: the cases of one run share one dataset, but
# one process (a test worker, a notebook) may time an entry on other data too.
_QUANTIZED: dict[tuple[str, str, str], Int8Copy | str] = {}


def int8_copy(name: str, float_bytes: bytes, x_train: np.ndarray) -> Int8Copy:
    """The int8 copy ``zoo export --int8`` would write of ``float_bytes``: the same mode choice, static mode
    calibrated on ``calibration_sample(x_train)`` (preprocessed training inputs); Skip, with the reason,
    where zoo writes none (onnxruntime cannot quantize it, or the copy is no smaller than float)."""
    from zoo.exports.quantize import calibration_sample

    sample = calibration_sample(x_train)
    key = (name, hashlib.sha256(float_bytes).hexdigest(), hashlib.sha256(np.ascontiguousarray(sample)).hexdigest())
    if key not in _QUANTIZED:
        _QUANTIZED[key] = _quantize(float_bytes, sample)
    found = _QUANTIZED[key]
    if isinstance(found, str):
        raise Skip(found)
    return found


def _quantize(float_bytes: bytes, calibration: np.ndarray) -> Int8Copy | str:
    try:
        import onnx

        from zoo.exports.quantize import choose_mode, quantize_int8

        float_model = onnx.load_from_string(float_bytes)
        mode = choose_mode(float_model)
        quantized = quantize_int8(float_model, calibration if mode == "static" else None, mode)
    except ImportError as exc:
        return f"no int8 copy: onnxruntime's quantizer needs {exc.name or exc}"
    except ExportError as exc:
        return f"no int8 copy: {exc}"
    model_bytes = quantized.SerializeToString()
    if len(model_bytes) >= len(float_bytes):  # as zoo.exports.device_copies decides
        return (f"no int8 copy: int8 ({mode}) would be {len(model_bytes):,} bytes against float's "
                f"{len(float_bytes):,}, so `zoo export --int8` writes none")
    return Int8Copy(model_bytes, mode)


def mobile_copy(float_bytes: bytes) -> bytes:
    """The ORT-format file of ``float_bytes`` with its batch fixed to 1, as ``zoo export --mobile`` writes it
    (``batch1/model.ort``); Skip, with the reason, where it cannot be made."""
    try:
        import onnx

        from zoo.exports.device_summary import B1_ONNX
        from zoo.exports.mobile import fixed_batch, ort_format_bytes

        fixed = fixed_batch(onnx.load_from_string(float_bytes), 1)
        with tempfile.TemporaryDirectory(prefix="zoo-bench-b1-") as tmp:
            path = Path(tmp) / B1_ONNX  # the ORT converter reads a file
            path.parent.mkdir(parents=True, exist_ok=True)
            onnx.save(fixed, str(path))
            return ort_format_bytes(path)
    except ImportError as exc:
        raise Skip(f"no mobile copy: onnxruntime's ORT-format converter needs {exc.name or exc}") from exc
    except ExportError as exc:
        raise Skip(f"no mobile copy: {exc}") from exc


_CONVERTED: dict[str, bytes] = {}


def onnx_bytes(spec: ModelSpec, dataset: DatasetSpec, model: keras.Model, input_shape: tuple[int, ...],
               exports: str | Path | None = None) -> tuple[bytes, str]:
    """The ONNX model to time and where it came from: converted now under the TensorFlow backend (once per
    entry per process: throughput does not depend on the weights), else the export ``zoo predict`` would
    use, else Skip."""
    from zoo.exports.manifest import ONNX_FILE
    from zoo.exports.predict import export_folder

    if keras.backend.backend() == "tensorflow":
        from zoo.exports.convert import convert_to_onnx
        from zoo.exports.export import tensor_names

        if spec.name not in _CONVERTED:
            names = tensor_names(spec, dataset, input_shape)
            _CONVERTED[spec.name] = convert_to_onnx(model, *names, input_shape).SerializeToString()
        return _CONVERTED[spec.name], "converted by zoo.exports.convert"
    path = export_folder(spec.name, exports) / spec.name / ONNX_FILE
    if path.is_file():
        return path.read_bytes(), str(path)
    raise Skip(f"ONNX conversion needs the TensorFlow backend (this run uses {keras.backend.backend()}) "
               f"and there is no {path}")


def min_rounds(case: Case) -> int:
    """The fewest timed rounds a case gets: training rates on a small shared machine swing between
    runs (TensorFlow sometimes keeps to one of two cores for a while), so they need more."""
    return 7 if case.mode in TRAIN_MODES else 3


def plan_rounds(workload: Workload, seconds: float, lo: int | None = None, hi: int = 1000) -> int:
    """How many rounds fit in ``seconds``, from the time of one round, within [lo, hi]
    (lo defaults to ``min_rounds``)."""
    lo = min_rounds(workload.case) if lo is None else lo
    start = time.perf_counter()
    workload.run()
    once = max(time.perf_counter() - start, 1e-6)
    return max(lo, min(hi, int(seconds / once)))


def measure(workload: Workload, rounds: int) -> list[float]:
    """Seconds of each of ``rounds`` timed rounds (the workload was warmed up when prepared)."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        workload.run()
        times.append(time.perf_counter() - start)
    return times


def overhead(zoo: Workload, plain: Workload, rounds: int) -> dict:
    """zoo's training path against a plain Keras script fitting the same model on the same arrays.

    Rounds alternate, so drift in the machine's speed falls on both alike, and the ratio compares
    each side's fastest round: on a shared machine other work only ever adds time, so the fastest
    round is the best estimate of what the code itself costs. ``speedup`` is zoo's training samples/s
    over the plain script's, on whole fit calls (start-up included); ``steady_speedup`` the same on
    each call's steady state (``SteadyClock``). > 1: zoo is faster.
    """
    zoo_times, plain_times = [], []
    for _ in range(rounds):
        zoo_times += measure(zoo, 1)
        plain_times += measure(plain, 1)
    zoo_steady = zoo.steady_steps * zoo.batch_size / min(zoo.steady_seconds[-rounds:])
    plain_steady = plain.steady_steps * plain.batch_size / min(plain.steady_seconds[-rounds:])
    return {"model": zoo.case.model, "mode": "overhead", "device": zoo.case.device,
            "device_name": zoo.device.name, "backend": environment.backend(), "batch_size": zoo.batch_size,
            "param_count": zoo.param_count, "gmacs": zoo.macs_per_sample / 1e9, "rounds": rounds,
            "steps": zoo.steps, "steps_per_execution": zoo.steps_per_execution,
            "zoo_train_samples_per_sec": zoo.samples / min(zoo_times),
            "plain_train_samples_per_sec": plain.samples / min(plain_times),
            "zoo_median_seconds": statistics.median(zoo_times), "plain_median_seconds": statistics.median(plain_times),
            "speedup": min(plain_times) / min(zoo_times),
            "zoo_steady_samples_per_sec": zoo_steady, "plain_steady_samples_per_sec": plain_steady,
            "steady_speedup": zoo_steady / plain_steady}


def figures(workload: Workload, seconds: Sequence[float], peak_gflops: float | None = None) -> dict:
    """The figures of a case from its round times (the median round, robust to a stray slow one).

    Training rates are those of the steady state within each round (``Workload.steady_seconds``);
    ``round_samples_per_sec`` is the whole round's, start-up included. Memory (``zoo.memory.PeakWindow``):
    the process's peak RSS from the model's build to now, and how far it rose above the RSS at that start
    (``rss_growth_bytes``: the case's model, session, buffers and training state; the suite's calibration,
    timed between, adds its three 9 MiB matrices).
    """
    case = workload.case
    median = statistics.median(seconds)
    per_sec, step_seconds = workload.samples / median, median / workload.steps
    if workload.steady_seconds:  # training: the steady state of the same rounds
        steady = statistics.median(workload.steady_seconds[-len(seconds):])
        per_sec, step_seconds = workload.steady_steps * workload.batch_size / steady, steady / workload.steady_steps
    gflops = workload.flops_per_sample * per_sec / 1e9
    key = "train_samples_per_sec" if case.mode in TRAIN_MODES else "infer_samples_per_sec"
    return {
        "model": case.model, "mode": case.mode, "device": case.device, "device_name": workload.device.name,
        "backend": environment.backend(), key: per_sec, "samples_per_sec": per_sec,
        "round_samples_per_sec": workload.samples / median,
        "step_time_ms": step_seconds * 1000, "batch_size": workload.batch_size,
        "param_count": workload.param_count, "gmacs": workload.macs_per_sample / 1e9,
        "gflops_per_sec": gflops, "matmul_peak_gflops": peak_gflops,
        "pct_of_matmul_peak": 100 * gflops / peak_gflops if peak_gflops else None,
        "rounds": len(seconds), **workload.notes, **(workload.memory.record() if workload.memory else {}),
        **({"steps_per_execution": workload.steps_per_execution, "precision": case.precision}
           if case.mode in TRAIN_MODES else {}),
    }


def matmul_peak_gflops(kind: str, n: int | None = None, repeats: int = 5, trials: int = 5) -> float:
    """The device's dense float32 matmul rate in GFLOP/s, measured now with keras.ops: the best of
    ``trials`` timings (a peak is what the hardware can reach, and a shared machine only ever slows
    a trial down), the ceiling a model's achieved rate is compared with."""
    device = bench_device(kind)
    n = n or (1536 if kind == "cpu" else 8192)
    best = 0.0
    with keras.device(device.keras_name):
        a = keras.ops.convert_to_tensor(np.random.default_rng(0).standard_normal((n, n), dtype=np.float32))
        b = keras.ops.convert_to_tensor(np.random.default_rng(1).standard_normal((n, n), dtype=np.float32))
        keras.ops.convert_to_numpy(keras.ops.sum(keras.ops.matmul(a, b)))  # warm-up
        for _ in range(trials):
            start = time.perf_counter()
            for _ in range(repeats):
                c = keras.ops.matmul(a, b)
            keras.ops.convert_to_numpy(keras.ops.sum(c))  # waits for the device
            best = max(best, 2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9)
    return best


BENCH_MODES = (*CASE_MODES, "overhead")  # what `zoo bench --mode` picks from


def run_benchmarks(models: Sequence[str], devices: Sequence[str] = DEVICES, *,
                   seconds: float = 2.0, data_dir: str | Path | None = None,
                   progress: Callable[[str], None] = print, modes: Sequence[str] = BENCH_MODES,
                   precision: str = FLOAT32) -> list[dict]:
    """Every case of ``models`` on ``devices`` in ``modes`` (``BENCH_MODES``: the cases' modes and the
    training-overhead comparison), timed with ``measure`` (what ``zoo bench`` runs), training in ``precision``;
    skipped cases are reported through ``progress`` with their reason."""
    results, skipped = [], set()
    peaks = {}
    overhead = [Case(m, "overhead", d) for m in models for d in devices] if "overhead" in modes else []
    for case in cases(models, devices, modes, (precision,)) + overhead:
        try:
            if case.device not in peaks:
                peaks[case.device] = matmul_peak_gflops(case.device)
            results.append(_run_case(case, seconds, data_dir, peaks[case.device]))
        except Skip as reason:
            if (case.device, str(reason)) not in skipped:
                progress(f"{case.id}: skipped: {reason}" + (" (and every other case there)" if case.device == "gpu" else ""))
            skipped.add((case.device, str(reason)))
    return results


def overhead_rounds(zoo: Workload, seconds: float) -> int:
    """Rounds for each side of the overhead comparison: half the time budget each, at least 7."""
    return max(7, plan_rounds(zoo, seconds) // 2)


def _run_case(case: Case, seconds: float, data_dir, peak: float) -> dict:
    if case.mode == "overhead":
        zoo = prepare_workload(Case(case.model, "train", case.device), data_dir=data_dir)
        plain = prepare_workload(Case(case.model, "train_plain", case.device), data_dir=data_dir)
        return overhead(zoo, plain, overhead_rounds(zoo, seconds))
    workload = prepare_workload(case, data_dir=data_dir)
    return figures(workload, measure(workload, plan_rounds(workload, seconds)), peak)


SUMMARY_HEADERS = ("model", "params", "MACs", "train cpu/s", "train gpu/s", "gpu/cpu",
                   "keras b1/s", "onnx b1/s", "onnx/keras b1", "keras b256/s", "onnx b256/s", "onnx/keras b256",
                   "int8 b1/s", "int8 b256/s", "int8/float b256", "mobile b1/s",
                   "% peak cpu", "zoo/plain", "zoo/plain call", "train +MiB", "onnx b256 +MiB")


def summary(results: Sequence[dict]) -> tuple[list[str], list[list[str]]]:
    """One row per entry: training on CPU and GPU, the speedup, ONNX vs Keras inference, the int8 copy (and
    its ratio to float ONNX) and the mobile copy, % of matmul peak, zoo's training speedup over a plain
    Keras script on CPU (steady state, and whole fit calls), and the MiB the CPU training and batch-256 ONNX
    cases added to the process's resident memory at their peak."""
    by_model: dict[str, dict[tuple, dict]] = {}
    for r in results:
        batch = r["batch_size"] if r["mode"] in INFER_MODES else None
        policy = r.get("precision") or FLOAT32  # training in another precision: a row of its own
        row = r["model"] if policy == FLOAT32 else f"{r['model']} ({PRECISION_LABELS.get(policy, policy)})"
        by_model.setdefault(row, {})[(r["mode"], r["device"], batch)] = r
    return list(SUMMARY_HEADERS), [_summary_row(model, got) for model, got in sorted(by_model.items())]


def _summary_row(model: str, got: dict[tuple, dict]) -> list[str]:
    """One entry's cells, in the order of SUMMARY_HEADERS, from its results keyed (mode, device, batch)."""
    def rate(mode: str, batch: int | None = None, device: str = "cpu") -> float | None:
        r = got.get((mode, device, batch))
        return r["samples_per_sec"] if r else None

    cpu, gpu = rate("train"), rate("train", device="gpu")
    speedup = got.get(("overhead", "cpu", None), {})
    any_row = next(iter(got.values()))
    return [model, f"{any_row['param_count']:,}", _si(any_row["gmacs"] * 1e9), _num(cpu), _num(gpu), _ratio(gpu, cpu),
            *_inference_cells(rate), _pct(got.get(("train", "cpu", None))),
            _times(speedup.get("steady_speedup")), _times(speedup.get("speedup")),
            _mib(got.get(("train", "cpu", None))), _mib(got.get(("infer_onnx", "cpu", 256)))]


def _inference_cells(rate: Callable[[str, int], float | None]) -> list[str]:
    """CPU inference samples/s: Keras and float ONNX at batch 1 and 256, then the int8 copy (with its
    ratio to float ONNX at 256) and the mobile copy at batch 1."""
    keras_b1, onnx_b1 = rate("infer_keras", 1), rate("infer_onnx", 1)
    keras_b256, onnx_b256 = rate("infer_keras", 256), rate("infer_onnx", 256)
    int8_b1, int8_b256 = rate("infer_int8", 1), rate("infer_int8", 256)
    return [_num(keras_b1), _num(onnx_b1), _ratio(onnx_b1, keras_b1),
            _num(keras_b256), _num(onnx_b256), _ratio(onnx_b256, keras_b256),
            _num(int8_b1), _num(int8_b256), _ratio(int8_b256, onnx_b256), _num(rate("infer_mobile", 1))]


def _si(value: float) -> str:
    """``3.02M``, ``7.84k``, ``170``: a count with an SI prefix."""
    for factor, prefix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= factor:
            return f"{value / factor:.3g}{prefix}"
    return f"{value:.3g}"


def _num(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _ratio(a: float | None, b: float | None) -> str:
    return "—" if not a or not b else f"{a / b:.2f}×"


def _times(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}×"


def _mib(result: dict | None) -> str:
    """What a CPU case added to the process's resident memory at its peak, in MiB."""
    growth = (result or {}).get("rss_growth_bytes")
    return "—" if growth is None else f"{growth / 2**20:,.1f}"


def _pct(result: dict | None) -> str:
    if not result or result.get("pct_of_matmul_peak") is None:
        return "—"
    pct = result["pct_of_matmul_peak"]
    return f"{pct:.0f}%" if pct >= 10 else f"{pct:.2g}%"
