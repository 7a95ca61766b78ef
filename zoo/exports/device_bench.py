"""``python -m zoo.exports.device_bench``: float against int8 (static and dynamic), and the mobile copies, of exports.

For each export under ``--exports`` (default: the reference set, ``reference/``), on its dataset's full test split:

- int8, static and dynamic (and static without ``reduce_range``): the metric, top-1 agreement with
  float, whether it passes the export rule (``zoo.exports.quantize.METRIC_BOUND`` and the test vectors), file
  sizes, and onnxruntime CPU samples/s of float and int8 at batch 1 and 256, timed round for round
  (medians over ``--rounds``);
- mobile: the usability checker's verdicts with the dynamic batch and with it fixed to 1, the sizes
  of ``batch1/model.onnx`` and ``batch1/model.ort``, and their validation, one sample per run.

The float reference is the committed ``model.onnx``'s own output (it matched Keras within 1e-6 at
export); the test vectors' ``output_0.pb`` are Keras' outputs. Writes JSON (``--json``) and a
Markdown report (``--markdown``, else stdout) that names the command, machine and date.
"""

from __future__ import annotations

import argparse
import datetime
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from zoo import environment, files
from zoo.exports.device_copies import validate_batch1
from zoo.exports.device_summary import B1_ONNX, B1_ORT
from zoo.errors import ZooError
from zoo.exports.export import TEST_DATA_SET, read_tensor
from zoo.exports.manifest import ONNX_FILE
from zoo.exports.runtime import open_session, run_onnx
from zoo.exports.mobile import MOBILE_EPS, fixed_batch, mobile_usability, ort_format_bytes
from zoo.exports.quantize import (CALIBRATION_SAMPLES, METRIC_BOUND, SPEED_MARGIN, SPEED_THREADS, calibration_sample,
                          check_int8, choose_mode, quantize_int8, score, size_and_speed)

# (label, mode, reduce_range): what export writes (static with 7-bit weights, or dynamic), and static
# with full 8-bit weights, to show what reduce_range costs or saves on this CPU.
VARIANTS = (("static", "static", True), ("static, 8-bit weights", "static", False), ("dynamic", "dynamic", False))


def measure_entry(name: str, exports: Path, data_dir: str | None, *, seconds: float, rounds: int,
                  threads: int = SPEED_THREADS) -> dict[str, Any]:
    """Everything ``device_bench`` reports about one export, as JSON-ready data."""
    import onnx

    x_test, truth, x_train, task, output_kind = _entry_data(name, data_dir)
    folder = exports / name
    float_model = onnx.load(str(folder / ONNX_FILE))
    float_bytes = float_model.SerializeToString()
    float_out = run_onnx(open_session(float_bytes), x_test)
    vectors = (read_tensor(folder / TEST_DATA_SET / "input_0.pb"), read_tensor(folder / TEST_DATA_SET / "output_0.pb"))
    result = {"name": name, "task": task, "test_samples": len(x_test), "chosen": choose_mode(float_model),
              "float": {"metric": "accuracy" if task == "classification" else "r2",
                        "value": score(float_out, truth, task), "bytes": len(float_bytes)},
              "int8": {}}
    calibration = calibration_sample(x_train)
    for label, mode, reduce_range in VARIANTS:
        quantized = quantize_int8(float_model, calibration if mode == "static" else None, mode,
                                  reduce_range=reduce_range)
        int8_bytes = quantized.SerializeToString()
        session = open_session(int8_bytes)
        check = check_int8(mode, run_onnx(session, x_test), float_out, truth, task, run_onnx(session, vectors[0]),
                           vectors[1])
        measured = size_and_speed(float_bytes, int8_bytes, x_test, seconds=seconds, rounds=rounds, threads=threads)
        result["int8"][label] = {"mode": mode, "value": check.int8_value, "top1_agreement": check.top1_agreement,
                                 "passes_rule": check.passed, "within_bound": abs(check.int8_value - check.float_value)
                                 <= check.bound, "vector_class_mismatches": check.vector_class_mismatches,
                                 "written_by_export": check.passed and len(int8_bytes) < len(float_bytes), **measured}
    result["mobile"] = _mobile(float_model, x_test, float_out, output_kind, vectors)
    return result


def _entry_data(name: str, data_dir: str | None):
    from zoo.datasets import load_dataset
    from zoo.plugins import load_registry
    from zoo.prepare import prepare

    registry = load_registry()
    spec = registry.model(name)
    dataset = registry.dataset(spec.dataset)
    data = prepare(spec, dataset, load_dataset(dataset, data_dir))
    return np.asarray(data.x_test, np.float32), data.truth, data.x_train, spec.task, spec.outputs


def _mobile(float_model, x_test: np.ndarray, float_out: np.ndarray, output_kind: str,
            vectors: tuple[np.ndarray, np.ndarray]) -> dict[str, Any]:
    import onnx

    b1 = fixed_batch(float_model, 1)
    with tempfile.TemporaryDirectory(prefix="zoo-device-bench-") as tmp:
        dynamic_path, b1_path = Path(tmp) / ONNX_FILE, Path(tmp) / B1_ONNX
        b1_path.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(float_model, str(dynamic_path))
        onnx.save(b1, str(b1_path))
        ort_bytes = ort_format_bytes(b1_path)
        verdicts = {"dynamic_batch": mobile_usability(dynamic_path)["verdicts"],
                    "batch_1": mobile_usability(b1_path)["verdicts"]}
    b1_bytes = b1.SerializeToString()
    validation = {}
    for file, data in ((B1_ONNX, b1_bytes), (B1_ORT, ort_bytes)):
        try:
            checked = validate_batch1(data, file, x_test, float_out, output_kind, vectors)
            validation[file] = {"passed": True, "max_abs_diff": checked["test_split"]["max_abs_diff"]}
        except ZooError as exc:
            validation[file] = {"passed": False, "error": str(exc)}
    return {"verdicts": verdicts, "bytes": {B1_ONNX: len(b1_bytes), B1_ORT: len(ort_bytes)},
            "validation": validation}


def markdown(results: list[dict[str, Any]], header: dict[str, str]) -> str:
    """The report: how it was measured, then the int8 table and the mobile table."""
    lines = [f"Measured with `{header['command']}` on {header['machine']}, {header['date']} "
             f"(onnxruntime {header['onnxruntime']}, CPU execution provider, {header['threads']} intra-op thread(s)). "
             f"The CPU was shared with other workers: samples/s are medians of {header['rounds']} rounds, each timing "
             "float and int8 back to back; the ratio in brackets is the median of the rounds' int8/float ratios, "
             f"and int8 counts as faster only above {SPEED_MARGIN:.2f}x.", "",
             "### int8 against float (full test split)", "",
             "`zoo export --int8` writes the mode marked (chosen) when it passes the rule.", "",
             "| entry | mode | float | int8 | Δ (points) | top-1 agreement | float bytes | int8 bytes | size | "
             "batch 1 samples/s float → int8 | batch 256 samples/s float → int8 | export rule |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for mode, q in r["int8"].items():
            chosen = " (chosen)" if mode == r["chosen"] else ""
            delta = 100 * (q["value"] - r["float"]["value"])
            agree = "—" if q["top1_agreement"] is None else f"{q['top1_agreement']:.2%}"
            lines.append(f"| `{r['name']}` | {mode}{chosen} | {_metric(r, r['float']['value'])} | "
                         f"{_metric(r, q['value'])} | {delta:+.2f} | {agree} | {q['float_bytes']:,} | "
                         f"{q['int8_bytes']:,} | {_size(q['size_ratio'])} | {_speed(q, 1)} | {_speed(q, 256)} | "
                         f"{_rule(q)} |")
    lines += ["", "### Mobile copies: onnxruntime's usability checker "
                  "(NNAPI / CoreML NeuralNetwork / CoreML MLProgram)", "",
              "| entry | dynamic batch | batch fixed to 1 | model.onnx bytes | batch1/model.onnx bytes | "
              "batch1/model.ort bytes | batch1 .onnx and .ort validation (one sample per run, all test samples) |",
              "|---|---|---|---|---|---|---|"]
    for r in results:
        m = r["mobile"]
        verdicts = {k: " / ".join(v[ep] for ep in MOBILE_EPS) for k, v in m["verdicts"].items()}
        checks = ", ".join(f"{f}: max diff {v['max_abs_diff']:.2g}" if v["passed"] else f"{f}: FAILED"
                           for f, v in m["validation"].items())
        lines.append(f"| `{r['name']}` | {verdicts['dynamic_batch']} | {verdicts['batch_1']} | "
                     f"{r['float']['bytes']:,} | {m['bytes'][B1_ONNX]:,} | {m['bytes'][B1_ORT]:,} | {checks} |")
    return "\n".join(lines) + "\n"


def _rule(q: dict[str, Any]) -> str:
    if not q["within_bound"]:
        return "fails the bound"
    if q["vector_class_mismatches"]:
        return f"fails: class differs on {q['vector_class_mismatches']} test vector(s)"
    return "passes" if q["written_by_export"] else "passes, but not smaller: never written"


def _metric(result: dict[str, Any], value: float) -> str:
    return f"{value:.2%}" if result["task"] == "classification" else f"R² {value:.4f}"


def _size(ratio: float) -> str:
    return f"{ratio:.1f}x smaller" if ratio > 1 else f"{1 / ratio:.1f}x larger"


def _speed(q: dict[str, Any], batch: int) -> str:
    s = q["speed"][f"batch_{batch}"]
    return f"{_si(s['float_samples_per_s'])} → {_si(s['int8_samples_per_s'])} ({s['int8_speedup']:.2f}x)"


def _si(value: float) -> str:
    return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value / 1e3:.1f}k" if value >= 1e3 else f"{value:.0f}"


def main(argv: list[str] | None = None) -> int:
    """Measure the exports named (default: all under ``--exports``) and write the report."""
    parser = argparse.ArgumentParser(prog="python -m zoo.exports.device_bench", description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="entries to measure (default: every export in --exports)")
    parser.add_argument("--exports", type=Path, default=Path("reference"))
    parser.add_argument("--data-dir", default=None, help="full datasets (default: ZOO_DATA_DIR)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--seconds", type=float, default=3.0, help="timing per entry, int8 variant and batch size")
    parser.add_argument("--threads", type=int, default=SPEED_THREADS, help="onnxruntime intra-op threads (0: default)")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--markdown", type=Path)
    args = parser.parse_args(argv)
    names = args.names or sorted(p.parent.name for p in args.exports.glob(f"*/{ONNX_FILE}"))
    results = []
    for name in names:
        print(f"measuring {name}...", file=sys.stderr, flush=True)
        results.append(measure_entry(name, args.exports, args.data_dir, seconds=args.seconds, rounds=args.rounds,
                                     threads=args.threads))
    header = {"command": "python -m zoo.exports.device_bench " + shlex.join(argv if argv is not None else sys.argv[1:]),
              "machine": f"{environment.cpu_name()}, no GPU",
              "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
              "onnxruntime": environment.versions().get("onnxruntime", "?"), "rounds": str(args.rounds),
              "threads": str(args.threads or "default"),
              "calibration": f"{CALIBRATION_SAMPLES} training samples", "bound": f"{METRIC_BOUND}"}
    if args.json:
        files.write_json(args.json, {"header": header, "results": files.finite(results)})
    report = markdown(results, header)
    if args.markdown:
        files.write_text(args.markdown, report)
    else:
        print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
