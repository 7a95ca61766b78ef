"""The ``zoo`` command: list, inspect, and run the registered models."""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from zoo.errors import ZooError

# TensorFlow's C++ start-up chatter buries zoo's own output; a user can still set it lower.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 error, 2 usage, 130 interrupted)."""
    warnings.showwarning = _show_warning
    parser = build_parser()
    args = parser.parse_args(argv)
    from zoo.interrupts import Terminated, installed

    try:
        with installed():
            return args.handler(args) or 0
    except ZooError as exc:
        print(f"zoo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        print(f"zoo: {'terminated' if isinstance(exc, Terminated) else 'interrupted'}; nothing was left "
              "half-written and earlier exports are intact", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130


def _show_warning(message, category, filename, lineno, file=None, line=None):
    from zoo.errors import ZooWarning

    if issubclass(category, ZooWarning):
        print(f"zoo: warning: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    parser = argparse.ArgumentParser(prog="zoo", description="A plugin-based model zoo of classic Keras tutorials.")
    from zoo import __version__

    parser.add_argument("--version", action="version", version=f"zoo {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("list", help="list the models")
    p.add_argument("pattern", nargs="?", help="fnmatch pattern on the name, e.g. 'mnist_*'")
    p.add_argument("--dataset", help="only models of this dataset")
    p.add_argument("--task", choices=("classification", "regression"))
    p.add_argument("--plugin", help="only models this plugin registered")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--out", type=Path, default=Path("exports"), help="where reports are read (default: exports)")
    p.set_defaults(handler=cmd_list)

    p = commands.add_parser("info", help="one model's layers, settings, dataset and tutorial")
    p.add_argument("name")
    p.set_defaults(handler=cmd_info)

    p = commands.add_parser("plugins", help="every plugin, its package, what it registered or why it failed")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_plugins)

    p = commands.add_parser("datasets", help="every dataset and where it would load from now")
    p.add_argument("--data-dir", help="folder with <dataset>/ sub-folders (default: $ZOO_DATA_DIR)")
    p.set_defaults(handler=cmd_datasets)

    p = commands.add_parser("bench", help="throughput on CPU and GPU: training, Keras and ONNX Runtime inference")
    p.add_argument("names", nargs="*", metavar="NAME", help="model names or fnmatch patterns")
    p.add_argument("--all", action="store_true", help="every registered model")
    p.add_argument("--device", choices=("cpu", "gpu", "all"), default="all")
    p.add_argument("--seconds", type=float, default=2.0, help="timed seconds per case (default: 2)")
    p.add_argument("--data-dir", help="folder with <dataset>/ sub-folders (default: $ZOO_DATA_DIR)")
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    p.set_defaults(handler=cmd_bench)

    p = commands.add_parser("run", help="train, evaluate and save models with their reports")
    p.add_argument("names", nargs="*", metavar="NAME", help="model names or fnmatch patterns")
    p.add_argument("--all", action="store_true", help="every registered model")
    p.add_argument("--epochs", type=_positive, help="override the tutorial's epochs")
    p.add_argument("--batch-size", type=_positive, help="override the tutorial's batch size")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    p.add_argument("--data-dir", help="folder with <dataset>/ sub-folders (default: $ZOO_DATA_DIR)")
    p.add_argument("--out", type=Path, default=Path("exports"), help="where to save (default: exports)")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run from its last finished epoch")
    p.set_defaults(handler=cmd_run)

    p = commands.add_parser("report", help="redraw earlier runs' plots and reports, or (no NAME) write the "
                                           "leaderboard OUT/index.html")
    p.add_argument("names", nargs="*", metavar="NAME", help="model names or fnmatch patterns; none: the leaderboard")
    p.add_argument("--data-dir", help="folder with <dataset>/ sub-folders (default: $ZOO_DATA_DIR)")
    p.add_argument("--out", type=Path, default=Path("exports"), help="where the runs are (default: exports)")
    p.add_argument("--benchmarks", type=Path, default=Path("benchmarks/results"),
                   help="folder of pytest-benchmark JSON files; the newest gives throughput "
                        "(default: benchmarks/results)")
    p.set_defaults(handler=cmd_report)

    p = commands.add_parser("export", help="(re-)export earlier runs to ONNX, validated against Keras")
    p.add_argument("names", nargs="*", metavar="NAME", help="model names or fnmatch patterns")
    p.add_argument("--all", action="store_true", help="every registered model")
    p.add_argument("--data-dir", help="folder with <dataset>/ sub-folders (default: $ZOO_DATA_DIR)")
    p.add_argument("--out", type=Path, default=Path("exports"), help="where the runs are (default: exports)")
    p.set_defaults(handler=cmd_export)

    p = commands.add_parser("predict", help="classify PNG/NPY images or CSV rows with a model's ONNX export")
    p.add_argument("name", metavar="NAME")
    p.add_argument("files", nargs="+", metavar="FILE", help=".png image, .npy array or .csv rows of raw data")
    p.add_argument("--top", type=_positive, default=3, help="how many classes to show (default: 3)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--out", type=Path, default=Path("exports"), help="where the exports are (default: exports)")
    p.set_defaults(handler=cmd_predict)

    p = commands.add_parser("serve", help="the playground: try every model in a browser (onnxruntime-web, local)")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=_port, default=8000, help="port to listen on (default: 8000; 0 picks a free one)")
    p.add_argument("--out", type=Path, default=Path("exports"),
                   help="your runs; entries with no export there come from the reference set (default: exports)")
    p.add_argument("--data-dir", help="folder with <dataset>/ sub-folders, for the curves' test points "
                                      "(default: $ZOO_DATA_DIR)")
    p.set_defaults(handler=cmd_serve)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 to 65535, not {value}")
    return value


def _registry():
    from zoo.plugins import load_registry

    return load_registry()


def _chosen(args, registry, verb: str) -> list:
    """The models named on the command line (names or fnmatch patterns), or all of them with --all."""
    if args.all == bool(args.names):
        raise ZooError(f"name the models to {verb}, or pass --all (not both)")
    return registry.list_models() if args.all else registry.select(args.names)


def _for_each(specs: list, work, noun: str) -> tuple[list, int]:
    """``work(spec)`` for each model; a ZooError is one line on stderr and the others still go on.

    Returns the (spec, result) pairs that succeeded and the exit code: 1 if any failed.
    """
    done, failed = [], 0
    for spec in specs:
        try:
            done.append((spec, work(spec)))
        except ZooError as exc:
            print(f"zoo: error: {spec.name}: {exc}", file=sys.stderr)
            failed += 1
    if failed:
        print(f"zoo: error: {failed} of {len(specs)} {noun} failed", file=sys.stderr)
    return done, int(failed > 0)


def cmd_list(args) -> int:
    from zoo.report import format_metric, read_report

    registry = _registry()
    rows = []
    for spec in registry.list_models(args.pattern, dataset=args.dataset, task=args.task, plugin=args.plugin):
        report = read_report(args.out / spec.name)
        measured = report["measured"] if report else None
        rows.append({"name": spec.name, "dataset": spec.dataset, "task": spec.task,
                     "params": spec.build().count_params(), "plugin": registry.owner(spec),
                     "tutorial_metric": spec.reference.metric, "tutorial_value": spec.reference.value,
                     "measured_metric": measured["metric"] if measured else None,
                     "measured_value": measured["value"] if measured else None,
                     "description": spec.description})
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    from zoo.table import format_table

    print(format_table(
        ["name", "dataset", "task", "params", "tutorial", "measured"],
        [[r["name"], r["dataset"], r["task"], f"{r['params']:,}",
          f"{r['tutorial_metric']} {format_metric(r['tutorial_metric'], r['tutorial_value'])}",
          f"{r['measured_metric']} {format_metric(r['measured_metric'], r['measured_value'])}"
          if r["measured_metric"] else "not run"] for r in rows]))
    return 0


def cmd_info(args) -> int:
    registry = _registry()
    spec = registry.model(args.name)
    dataset = registry.dataset(spec.dataset)
    lines: list[str] = []
    spec.build().summary(print_fn=lambda text, line_break=True: lines.append(text), line_length=80)
    fit = spec.fit
    print(f"{spec.name}: {spec.description}\n")
    print("\n".join(lines))
    print(f"\nplugin:       {registry.owner(spec)}")
    print(f"dataset:      {dataset.name} ({dataset.description})")
    print(f"preprocess:   {spec.preprocess.describe()}{'; one-hot labels' if spec.one_hot else ''}"
          f"{'; training set augmented' if spec.augment else ''}{f'; target {spec.target}' if spec.target else ''}")
    print(f"compile:      optimizer={json.dumps(spec.compile.optimizer)} loss={json.dumps(spec.compile.loss)} "
          f"metrics={list(spec.compile.metrics)}")
    steps = f", {fit.steps_per_epoch} steps per epoch (shuffled, repeated)" if fit.steps_per_epoch else ""
    print(f"fit:          {fit.epochs} epochs, batch {fit.batch_size}{steps}")
    print(f"outputs:      {spec.outputs}")
    if spec.test_variants:
        print(f"test sets:    plain, {', '.join(spec.test_variants)}")
    print(f"tutorial:     {spec.tutorial.title}\n              {spec.tutorial.source}")
    from zoo.report import format_metric

    print(f"its result:   {spec.reference.metric} {format_metric(spec.reference.metric, spec.reference.value)}"
          f"{f' ({spec.reference.note})' if spec.reference.note else ''}")
    if spec.tags:
        print(f"tags:         {', '.join(spec.tags)}")
    return 0


def cmd_plugins(args) -> int:
    registry = _registry()
    infos = list(registry.plugins.values())
    if args.json:
        print(json.dumps([{**vars(i), "status": i.status} for i in infos], indent=2))
        return 0
    from zoo.table import format_table

    print(format_table(["plugin", "package", "status", "registered / error"], [
        [i.name, f"{i.package or '?'} {i.version or ''}".strip(), i.status,
         i.error if i.error else "left out by ZOO_PLUGINS" if i.skipped
         else ", ".join([*(f"dataset {d}" for d in i.datasets), *(f"model {m}" for m in i.models)]) or "nothing"]
        for i in infos]))
    return 0


def cmd_datasets(args) -> int:
    from zoo.datasets import locate
    from zoo.table import format_table

    registry = _registry()
    rows = []
    for name in sorted(registry.datasets):
        spec = registry.datasets[name]
        place = locate(spec, args.data_dir)
        where = "not available" if place is None else (
            f"needs download of {place.path}" if place.kind == "download" else place.describe())
        rows.append([name, spec.task, len(spec.class_names) or len(spec.target_names), where])
    print(format_table(["dataset", "task", "classes/targets", "loads from"], rows))
    return 0


def cmd_run(args) -> int:
    from zoo.leaderboard import write_leaderboard
    from zoo.report import format_metric
    from zoo.run import RunOptions, run_model
    from zoo.table import format_table

    registry = _registry()
    specs = _chosen(args, registry, "run")
    options = RunOptions(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, device=args.device,
                         data_dir=args.data_dir, out=args.out, resume=args.resume,
                         # Keras' live progress bar on a terminal; one line per epoch in a log file.
                         verbose=1 if sys.stdout.isatty() else 2)

    def run(spec):
        print(f"== {spec.name}: {spec.description}", flush=True)
        try:
            result = run_model(spec.name, options, registry)
        except KeyboardInterrupt:
            print(f"zoo: {spec.name} stopped; continue it with 'zoo run {spec.name} --resume"
                  f"{'' if args.out == Path('exports') else f' --out {args.out}'}'", file=sys.stderr)
            raise
        if skipped := result.report.get("onnx", {}).get("skipped"):
            print(f"zoo: note: {spec.name}: {skipped}", file=sys.stderr)
        return result

    done, code = _for_each(specs, run, "runs")
    rows = []
    for spec, result in done:
        metric, value = result.evaluation.primary
        ref = spec.reference.value if spec.reference.metric == metric else None
        variants = "; ".join(f"{n} {format_metric(metric, s.get(metric))}" for n, s in result.evaluation.variants.items())
        rows.append([spec.name, f"{metric} {format_metric(metric, value)}" + (f" ({variants})" if variants else ""),
                     format_metric(metric, ref), f"{result.trained.samples_per_sec:,.0f}",
                     f"{result.trained.wall_seconds:.1f}", result.paths["report_md"]])
    if rows:
        print()
        print(format_table(["model", "zoo", "tutorial", "train samples/s", "fit s", "report"], rows))
        print(f"leaderboard: {write_leaderboard(args.out)}")
    return code


def cmd_export(args) -> int:
    from zoo.export import export_saved_run
    from zoo.table import format_table

    registry = _registry()
    specs = _chosen(args, registry, "export")
    done, code = _for_each(specs, lambda spec: export_saved_run(spec.name, args.out, args.data_dir, registry),
                           "exports")
    rows = []
    for spec, run in done:
        facts = run.report["onnx"]
        check = facts["validation"]
        rows.append([spec.name, f"{facts['bytes']:,}", facts["opset"], f"{check['samples']:,}",
                     f"{check['max_abs_diff']:.2g}", "—" if check["class_mismatches"] is None else f"{check['class_mismatches']:,}",
                     run.paths["onnx"]])
    if rows:
        print(format_table(["model", "bytes", "opset", "samples checked", "max |ort - keras|", "class diffs",
                            "file"], rows))
    return code


def cmd_predict(args) -> int:
    from zoo.predict import open_export, predict_files

    export = open_export(args.name, args.out)
    predictions = predict_files(export, args.files, top=args.top)
    if args.json:
        print(json.dumps([p.as_json() for p in predictions], indent=2))
    else:
        for prediction in predictions:
            print(prediction.describe())
    return 0


def cmd_serve(args) -> int:
    from zoo.serve import serve

    return serve(args.out, args.host, args.port, args.data_dir)


def cmd_report(args) -> int:
    from zoo.leaderboard import write_leaderboard

    if not args.names:
        print(write_leaderboard(args.out, args.benchmarks))
        return 0
    from zoo.run import refresh_report

    registry = _registry()
    done, code = _for_each(registry.select(args.names),
                           lambda spec: refresh_report(spec.name, args.out, args.data_dir, registry), "reports")
    for spec, result in done:
        plots = len(result.report["plots"])
        print(f"{spec.name}: {plots} plot{'s' * (plots != 1)}, {result.paths['report_md']}, "
              f"{result.paths['report_html']}")
    return code


def cmd_bench(args) -> int:
    from zoo import bench, files
    from zoo.table import format_table

    registry = _registry()
    specs = _chosen(args, registry, "benchmark")
    devices = bench.DEVICES if args.device == "all" else (args.device,)
    results = bench.run_benchmarks(registry, [s.name for s in specs], devices, seconds=args.seconds,
                                   data_dir=args.data_dir, progress=lambda line: print(line, file=sys.stderr))
    headers, rows = bench.summary(results)
    print(format_table(headers, rows))
    for device, peak in sorted({(r["device"], r["matmul_peak_gflops"]) for r in results if r.get("matmul_peak_gflops")}):
        print(f"{device} dense float32 matmul peak measured in this run: {peak:,.1f} GFLOP/s")
    if args.json:
        files.write_json(args.json, {"results": results, "versions": bench.environment.versions()})
    return 0
