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
    try:
        return args.handler(args) or 0
    except ZooError as exc:
        print(f"zoo: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("zoo: interrupted; files already written are complete, nothing was left half-written",
              file=sys.stderr)
        return 130


def _show_warning(message, category, filename, lineno, file=None, line=None):
    from zoo.plugins import PluginWarning

    if issubclass(category, PluginWarning):
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

    p = commands.add_parser("run", help="train, evaluate and save models with their reports")
    p.add_argument("names", nargs="*", metavar="NAME", help="model names or fnmatch patterns")
    p.add_argument("--all", action="store_true", help="every registered model")
    p.add_argument("--epochs", type=_positive, help="override the tutorial's epochs")
    p.add_argument("--batch-size", type=_positive, help="override the tutorial's batch size")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    p.add_argument("--data-dir", help="folder with <dataset>/ sub-folders (default: $ZOO_DATA_DIR)")
    p.add_argument("--out", type=Path, default=Path("exports"), help="where to save (default: exports)")
    p.set_defaults(handler=cmd_run)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _registry():
    from zoo.plugins import load_registry

    return load_registry()


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
    from zoo.report import format_metric
    from zoo.run import RunOptions, run_model
    from zoo.table import format_table

    registry = _registry()
    if args.all == bool(args.names):
        raise ZooError("name the models to run, or pass --all (not both)")
    specs = registry.list_models() if args.all else registry.select(args.names)
    options = RunOptions(epochs=args.epochs, batch_size=args.batch_size, seed=args.seed, device=args.device,
                         data_dir=args.data_dir, out=args.out,
                         # Keras' live progress bar on a terminal; one line per epoch in a log file.
                         verbose=1 if sys.stdout.isatty() else 2)
    rows, failed = [], 0
    for spec in specs:
        print(f"== {spec.name}: {spec.description}", flush=True)
        try:
            result = run_model(spec.name, options, registry)
        except ZooError as exc:
            print(f"zoo: error: {spec.name}: {exc}", file=sys.stderr)
            failed += 1
            continue
        metric, value = result.evaluation.primary
        ref = spec.reference.value if spec.reference.metric == metric else None
        variants = "; ".join(f"{n} {format_metric(metric, s.get(metric))}" for n, s in result.evaluation.variants.items())
        rows.append([spec.name, f"{metric} {format_metric(metric, value)}" + (f" ({variants})" if variants else ""),
                     format_metric(metric, ref), f"{result.trained.samples_per_sec:,.0f}",
                     f"{result.trained.wall_seconds:.1f}", result.paths["report_md"]])
    if rows:
        print()
        print(format_table(["model", "zoo", "tutorial", "train samples/s", "fit s", "report"], rows))
    if failed:
        print(f"zoo: error: {failed} of {len(specs)} runs failed", file=sys.stderr)
        return 1
    return 0
