"""The ``zoo`` command: list, inspect, train, export, predict and benchmark the registered models.

Each command calls the same functions a Python user calls (``zoo.api``). Commands that do not
train import neither Keras nor TensorFlow unless an entry has to be built. TensorFlow's and XLA's
native start-up lines are silenced unless ``--verbose``.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

from zoo import precision
from zoo.errors import ZooError

RUNS_HELP = "folder of runs (default: $ZOO_HOME/runs, ~/.local/share/zoo/runs)"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 error, 2 usage, 130 interrupted, 143 terminated)."""
    from zoo.said_warnings import new_command

    warnings.showwarning = _show_warning
    new_command()  # once per command: main() called again in one process (a notebook, a test) says them again
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parse(argv)
    args.argv = argv  # a multi-worker run re-runs itself supervised
    from zoo.interrupts import Terminated, installed

    with _quiet(getattr(args, "verbose", False)):  # given before or after the command name
        try:
            with installed():
                return args.handler(args) or 0
        except ZooError as exc:
            print(f"zoo: error: {exc}", file=sys.stderr)
            _traceback(exc, args)
            _leave_cluster_now(args)
            return 1
        except KeyboardInterrupt as exc:
            print(f"zoo: {'terminated' if isinstance(exc, Terminated) else 'interrupted'}; nothing was left "
                  "half-written and earlier exports are intact", file=sys.stderr)
            return 143 if isinstance(exc, Terminated) else 130


def _parse(argv: list[str]) -> argparse.Namespace:
    """The parsed command line: ``zoo bench compare ...`` (the words ``bench compare`` side by side) has a
    parser of its own, so ``zoo bench NAME...`` keeps taking model names."""
    words = [i for i, arg in enumerate(argv) if not arg.startswith("-")]
    if words and argv[words[0]] == "bench" and argv[words[0] + 1:words[0] + 2] == ["compare"]:
        return bench_compare_parser().parse_args(argv[:words[0]] + argv[words[0] + 2:])
    return build_parser().parse_args(argv)


@contextlib.contextmanager
def _quiet(verbose: bool) -> Iterator[None]:
    """Unless ``verbose``: native libraries' log lines (TensorFlow's C++ start-up notices, absl, XLA) go to
    /dev/null, while Python's ``sys.stderr`` (zoo's messages, warnings, tracebacks) keeps the terminal.

    Native code writes to file descriptor 2 directly, before any setting of theirs can be read, so
    the descriptor itself is redirected; only when stderr is the process's own (not under pytest).
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "0" if verbose else "3")
    if verbose or sys.stderr is not sys.__stderr__ or not _is_fd(sys.stderr, 2):
        yield
        return
    import logging

    for name in ("tensorflow", "absl", "jax._src.xla_bridge"):
        logging.getLogger(name).setLevel(logging.ERROR)
    sys.stderr.flush()
    saved = os.dup(2)
    null = os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    os.close(null)
    sys.stderr = os.fdopen(os.dup(saved), "w", buffering=1, encoding=sys.__stderr__.encoding, errors="backslashreplace")
    import faulthandler

    faulthandler.enable(sys.stderr)  # a native crash still prints where it happened, not silence
    try:
        yield
    finally:
        faulthandler.disable()
        sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        sys.stderr.close()
        sys.stderr = sys.__stderr__


def _is_fd(stream, fd: int) -> bool:
    try:
        return stream.fileno() == fd
    except (AttributeError, OSError, ValueError):
        return False


def _show_warning(message, category, filename, lineno, file=None, line=None):
    from zoo.errors import ZooWarning
    from zoo.said_warnings import first_time

    if issubclass(category, ZooWarning):
        if first_time(str(message)):  # once per command, child processes under another backend included
            print(f"zoo: warning: {message}", file=sys.stderr)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every sub-command."""
    from zoo.version import __version__

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS,
                        help="show TensorFlow's and other native libraries' start-up and log lines")
    parser = argparse.ArgumentParser(prog="zoo", parents=[common],
                                     description="A plugin-based model zoo of classic Keras tutorials.")
    parser.add_argument("--version", action="version", version=f"zoo {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler, help: str) -> argparse.ArgumentParser:
        p = commands.add_parser(name, help=help, parents=[common])
        p.set_defaults(handler=handler)
        return p

    p = command("list", cmd_list, "the models, with the reference result and your latest run")
    p.add_argument("patterns", nargs="*", metavar="PATTERN", help="fnmatch patterns on the name, e.g. 'mnist_*'")
    p.add_argument("--dataset", help="only models of this dataset")
    p.add_argument("--task", choices=("classification", "regression"))
    p.add_argument("--tag", help="only models with this tag, e.g. cnn")
    p.add_argument("--plugin", help="only models this plugin registered")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--out", type=Path, help=f"where your runs are: {RUNS_HELP}")

    p = command("info", cmd_info, "one model's card: settings, dataset, tutorial, results, files")
    p.add_argument("name")
    p.add_argument("--layers", action="store_true", help="also build the model and show Keras' layer summary")
    p.add_argument("--out", type=Path, help=f"where your runs are: {RUNS_HELP}")

    p = command("plugins", cmd_plugins, "every plugin, its package, what it registered or what went wrong")
    p.add_argument("--json", action="store_true")

    p = command("datasets", cmd_datasets, "every dataset and where it would load from now")
    p.add_argument("--data-dir", help="folder with <dataset>/ sub-folders (default: $ZOO_DATA_DIR)")

    p = command("bench", cmd_bench, "throughput on CPU and GPU: training, Keras and ONNX Runtime inference; "
                                    "`zoo bench compare [BASELINE] [NEW]` gates a run of the suite on an earlier one")
    _names(p)
    p.add_argument("--device", choices=("cpu", "gpu", "all"), default="all")
    p.add_argument("--seconds", type=float, default=2.0, help="timed seconds per case (default: 2)")
    p.add_argument("--mode", action="append", metavar="MODE",
                   help="only these cases, repeatable: train, infer_keras, infer_onnx, infer_int8, infer_mobile, "
                        "overhead (zoo vs plain Keras) (default: all)")
    p.add_argument("--backend", choices=("tensorflow", "jax", "torch"),
                   help="Keras backend to measure (default: KERAS_BACKEND, else TensorFlow)")
    p.add_argument("--precision", choices=precision.POLICIES, default=precision.FLOAT32,
                   help="what the training cases compute in (default: float32); a mixed_bfloat16 rate is ranked "
                        "beside the backends' for --precision auto")
    p.add_argument("--data-dir", help="folder with <dataset>/ sub-folders (default: $ZOO_DATA_DIR)")
    p.add_argument("--json", type=Path, help="also write the figures to this JSON file")

    p = command("run", cmd_run, "train, evaluate, export and report models")
    _names(p)
    p.add_argument("--epochs", type=_positive, help="override the tutorial's epochs")
    p.add_argument("--batch-size", type=_positive, help="override the tutorial's batch size")
    seed = p.add_mutually_exclusive_group()
    seed.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    seed.add_argument("--seeds", metavar="SEEDS",
                      help="train once per seed (0-4, or 0,3,7) and report the median, min and max of the metric and "
                           "the time to target; the first seed's run is the one kept")
    p.add_argument("--jobs", type=_positive, metavar="N",
                   help="with --seeds: training processes at once (default: one per two CPU cores)")
    p.add_argument("--device", choices=("auto", "cpu", "gpu"), default="auto")
    _backend_flag(p, "train under", " or with --distribute")
    _precision_flag(p)
    p.add_argument("--data-dir", help="folder with <dataset>/ sub-folders (default: $ZOO_DATA_DIR)")
    p.add_argument("--out", type=Path, help=f"where to save: {RUNS_HELP}")
    p.add_argument("--resume", action="store_true", help="continue an interrupted run from its last finished epoch")
    p.add_argument("--no-export", dest="export", action="store_false",
                   help="save the model and its reports only, without the ONNX export")
    _device_copy_flags(p)
    p.add_argument("--distribute", choices=("none", "data-parallel"), default="none",
                   help="data-parallel: synchronous training over every local device, or over the workers TF_CONFIG "
                        "(TensorFlow) or KERAS_DISTRIBUTION_* (JAX) describe")
    p.add_argument("--scale-batch", action="store_true",
                   help="give every replica the entry's batch (the global batch grows with the replicas) instead of "
                        "splitting the entry's batch across them")
    p.add_argument("--cpu-devices", type=_positive, metavar="N",
                   help="split the CPU into N logical devices (default: $ZOO_CPU_DEVICES), e.g. to try data-parallel "
                        "training on a laptop")
    p.add_argument("--join-timeout", type=_positive, default=120, metavar="S",
                   help="seconds the workers of a multi-worker run wait for each other to join (default: 120)")
    p.add_argument("--heartbeat-timeout", type=_positive, default=30, metavar="S",
                   help="seconds a silent worker is waited for before the others stop (default: 30)")

    p = command("report", cmd_report, "redraw earlier runs' plots and reports, or (no NAME) write the "
                                      "leaderboard OUT/index.html")
    p.add_argument("names", nargs="*", metavar="NAME", help="model names or fnmatch patterns; none: the leaderboard")
    p.add_argument("--data-dir", help="folder with <dataset>/ sub-folders (default: $ZOO_DATA_DIR)")
    p.add_argument("--out", type=Path, help=f"where the runs are: {RUNS_HELP}")
    p.add_argument("--benchmarks", type=Path, default=Path("benchmarks/results"),
                   help="folder of pytest-benchmark JSON files; the newest gives throughput "
                        "(default: benchmarks/results)")

    p = command("export", cmd_export, "(re-)export earlier runs to ONNX, validated against Keras")
    _names(p)
    p.add_argument("--data-dir", help="folder with <dataset>/ sub-folders (default: $ZOO_DATA_DIR)")
    p.add_argument("--out", type=Path, help=f"where the runs are: {RUNS_HELP}")
    _device_copy_flags(p)
    p.add_argument("--triton", type=Path, metavar="DIR",
                   help="instead, write the existing end-to-end exports (your runs in --out, else the shipped "
                        "reference set) as a Triton model repository: DIR/NAME/{config.pbtxt,labels.txt,1/model.onnx}")
    p.add_argument("--max-batch-size", type=_positive, default=256,
                   help="with --triton: config.pbtxt's max_batch_size (default: 256)")

    p = command("check", cmd_check, "the conformance checks a plugin's CI runs: a line per check per entry")
    p.add_argument("names", nargs="*", metavar="NAME", help="model names or fnmatch patterns (default: every model "
                                                            "of --plugin's distribution, else zoo's own)")
    p.add_argument("--plugin", help="every model of this plugin's distribution")
    p.add_argument("--data-dir", help="folder with <dataset>/ sub-folders (default: $ZOO_DATA_DIR)")

    p = command("new", cmd_new, "start a new plugin package from zoo's template (a dataset, a model, the kit, CI)")
    p.add_argument("kind", choices=("plugin",))
    p.add_argument("dest", type=Path, metavar="DIR", help="a new or empty folder for the package")
    p.add_argument("--name", required=True, help="the plugin's entry-point name, e.g. blobs (the package becomes "
                                                 "zoo-blobs, module zoo_blobs, model blobs_mlp)")
    p.add_argument("--description", help="one line on what the plugin adds")

    p = command("reference", cmd_reference, "build a plugin's reference set: its entries trained with zoo run's "
                                            "own path, with manifest, into a folder to ship with the plugin")
    p.add_argument("plugin", metavar="PLUGIN", help="a plugin's entry-point name; every entry of its distribution")
    p.add_argument("--dest", type=Path, required=True, help="the set's folder, e.g. my_plugin/reference (replaced "
                                                            "whole once every entry succeeded)")
    p.add_argument("--data-dir", help="folder with <dataset>/ sub-folders (default: $ZOO_DATA_DIR)")
    seed = p.add_mutually_exclusive_group()
    seed.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    seed.add_argument("--seeds", metavar="SEEDS", help="train every entry once per seed (0-4, or 0,3,7); the first "
                                                        "seed's run is shipped, with the spread over all of them")
    p.add_argument("--jobs", type=_positive, metavar="N",
                   help="with --seeds: training processes at once (default: one per two CPU cores)")
    p.add_argument("--epochs", type=_positive, help="override each entry's epochs (a quick set on small data)")
    _backend_flag(p, "train each entry under, as zoo run does")
    _precision_flag(p)

    p = command("predict", cmd_predict, "classify PNG/NPY images or CSV rows with a model's ONNX export")
    p.add_argument("name", metavar="NAME")
    p.add_argument("files", nargs="+", metavar="FILE", help=".png image, .npy array or .csv rows of raw data")
    p.add_argument("--top", type=_positive, default=3, help="how many classes to show (default: 3)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--out", type=Path, help="use the export in this folder of runs (default: the reference set "
                                            "the entry's plugin ships, else your runs folder)")

    p = command("serve", cmd_serve, "the playground (try every model in a browser) and an inference API "
                                    "(Open Inference Protocol v2) on one local port")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1, this machine only)")
    p.add_argument("--port", type=_port, default=8000, help="port to listen on (default: 8000; 0 picks a free one)")
    p.add_argument("--out", type=Path, help=f"your runs, shown where they have an export, else the reference set: "
                                            f"{RUNS_HELP}")
    p.add_argument("--data-dir", help="folder with <dataset>/ sub-folders, for the curves' test points "
                                      "(default: $ZOO_DATA_DIR)")
    p.add_argument("--allow-host", action="append", default=[], metavar="NAME",
                   help="also answer requests whose Host header is NAME (repeatable; localhost, 127.0.0.1, [::1] "
                        "and --host always are)")
    p.add_argument("--max-batch-size", type=_positive, default=64, metavar="N",
                   help="most samples the inference API runs in one batch (default: 64)")
    p.add_argument("--batch-wait-ms", type=_non_negative_float, default=2.0, metavar="MS",
                   help="how long a batch waits for more requests after its first, in ms (default: 2)")
    p.add_argument("--max-connections", type=_positive, default=512, metavar="N",
                   help="connections served at once; more get a 503 (default: 512)")
    p.add_argument("--request-timeout", type=_positive_float, default=10.0, metavar="SECONDS",
                   help="seconds a client has to send a whole request before it is disconnected (default: 10)")
    return parser


def bench_compare_parser() -> argparse.ArgumentParser:
    """The parser of ``zoo bench compare``."""
    p = argparse.ArgumentParser(prog="zoo bench compare", description=(
        "Compare two runs of the benchmark suite (pytest-benchmark JSON) per case and figure, on figures relative "
        "to the calibration timed beside each case where both runs have it; exit 1 when a case got slower than "
        "its threshold allows (thresholds: zoo.bench_compare, overridden in pyproject.toml's "
        "[tool.zoo.bench.thresholds]), 2 when the runs cannot be compared."))
    p.add_argument("--verbose", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    p.add_argument("baseline", nargs="?", metavar="BASELINE",
                   help="a JSON file or a run id in --storage (e.g. 0005); default: the second-newest run of this machine")
    p.add_argument("new", nargs="?", metavar="NEW", help="a JSON file or a run id; default: the newest run")
    p.add_argument("--storage", type=Path, help="the suite's --benchmark-storage folder (default: benchmarks/results)")
    p.add_argument("--config", type=Path, help="pyproject.toml with [tool.zoo.bench.thresholds] "
                                               "(default: the current directory's, else zoo's checkout's)")
    p.set_defaults(handler=cmd_bench_compare, command="bench compare")
    return p


def _names(p: argparse.ArgumentParser) -> None:
    p.add_argument("names", nargs="*", metavar="NAME", help="model names or fnmatch patterns")
    p.add_argument("--all", action="store_true", help="every registered model")


def _backend_flag(p: argparse.ArgumentParser, verb: str, also: str = "") -> None:
    p.add_argument("--backend", choices=("auto", "tensorflow", "jax", "torch"), default="auto",
                   help=f"Keras backend to {verb} (default: auto): auto picks per entry and device the one measured "
                        f"fastest for training (zoo/backend_table.json), TensorFlow where nothing was measured{also}; "
                        "a KERAS_BACKEND you set wins over auto, and an explicit --backend wins over both")


def _precision_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--precision", choices=precision.REQUESTS, default="auto",
                   help="what training computes in (default: auto): auto trains in bfloat16 mixed precision where "
                        "the backend table measured it faster for the entry and the hardware has it natively (a CPU "
                        "with AMX), else float32; the trained model is float32 either way")


def _device_copy_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--mobile", action="store_true", help="also a batch-1 copy and its ORT-format file, rated by "
                                                         "onnxruntime's mobile usability checker")
    p.add_argument("--int8", action="store_true", help="also an int8 copy, validated on the whole test split")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not 0 <= value < float("inf"):  # NaN fails too
        raise argparse.ArgumentTypeError(f"must be a number from 0 up, not {text}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number above 0, not {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be from 0 to 65535, not {value}")
    return value


def _chosen(args, verb: str) -> list[str]:
    """The models named on the command line (names or fnmatch patterns), or all of them with --all."""
    from zoo.plugins import load_registry

    if args.all == bool(args.names):
        raise ZooError(f"name the models to {verb}, or pass --all (not both)")
    registry = load_registry()
    return [spec.name for spec in (registry.list_models() if args.all else registry.select(args.names))]


def _traceback(exc: BaseException, args) -> None:
    """With --verbose, the traceback of what caused a ZooError (a plugin's or a library's exception)."""
    if getattr(args, "verbose", False) and exc.__cause__ is not None:
        import traceback

        traceback.print_exception(exc.__cause__, file=sys.stderr)


def _for_each(names: list[str], work, noun: str, args=None) -> tuple[list, int]:
    """``work(name)`` for each model; a ZooError is one line on stderr and the others still go on.

    Returns the (name, result) pairs that succeeded and the exit code: 1 if any failed.
    """
    done, failed = [], 0
    for name in names:
        try:
            done.append((name, work(name)))
        except ZooError as exc:
            print(f"zoo: error: {name}: {exc}", file=sys.stderr)
            _traceback(exc, args)
            _leave_cluster_now(args)
            failed += 1
    if failed:
        print(f"zoo: error: {failed} of {len(names)} {noun} failed", file=sys.stderr)
    return done, int(failed > 0)


def cmd_list(args) -> int:
    from zoo import api
    from zoo.report import format_metric

    names = sorted({name for pattern in args.patterns or ["*"]
                    for name in api.list_models(pattern, dataset=args.dataset, task=args.task, tag=args.tag,
                                                plugin=args.plugin)})
    cards = [api.card(name, out=args.out) for name in names]
    if args.json:
        print(json.dumps([card.as_json() for card in cards], indent=2))
        return 0
    from zoo.table import format_table

    def result(card, run, missing):
        return missing if run is None else format_metric(card.metric, run.value)

    print(format_table(
        ["name", "dataset", "task", "params", "metric", "tutorial", "reference", "your run"],
        [[c.name, c.dataset, c.task, "build failed" if c.build_error else "—" if c.params is None else f"{c.params:,}",
          c.metric, _tutorial(c), result(c, c.reference, "not run" if c.builtin else "—"),
          result(c, c.latest, "not run")] for c in cards]))
    for card in cards:
        if card.build_error:
            print(f"zoo: warning: {card.name}: {card.build_error}", file=sys.stderr)
    return 0


def _tutorial(card) -> str:
    """The tutorial's number on the headline metric; on another metric, named; '—' when it gives none."""
    from zoo.report import format_metric

    if card.tutorial_value is None or card.tutorial_metric == card.metric:
        return format_metric(card.metric, card.tutorial_in_metric)
    return f"{card.tutorial_metric} {format_metric(card.tutorial_metric, card.tutorial_value)}"


def cmd_info(args) -> int:
    from zoo import api
    from zoo.report import format_metric

    spec, card = api.get_spec(args.name), api.card(args.name, out=args.out)
    dataset = api.get_dataset(spec.dataset)
    print(f"{card.name}: {card.description}\n")
    if args.layers:
        lines: list[str] = []
        api.create_model(args.name).summary(print_fn=lambda text, line_break=True: lines.append(text), line_length=80)
        print("\n".join(lines) + "\n")
    fit, plugin = spec.fit, api.plugin_of(args.name)
    rows = [
        ("plugin", plugin.describe().removeprefix("plugin ")),
        ("dataset", f"{dataset.name} ({dataset.description})"),
        ("parameters", "build failed: " + card.build_error if card.build_error else
         f"{card.params:,}" + (f", {card.macs:,} MACs per sample" if card.macs else "")
         + (f" (not counted: {', '.join(card.macs_uncounted)})" if card.macs_uncounted else "") if card.params else "—"),
        ("preprocess", f"{card.preprocessing}{'; one-hot labels' if spec.one_hot else ''}"
                       f"{'; training set augmented' if spec.augment else ''}{f'; target {spec.target}' if spec.target else ''}"),
        ("compile", f"optimizer={json.dumps(spec.compile.optimizer)} loss={json.dumps(spec.compile.loss)} "
                    f"metrics={list(spec.compile.metrics)}"),
        ("fit", f"{fit.epochs} epochs, batch {fit.batch_size}"
                + (f", {fit.steps_per_epoch} steps per epoch (shuffled, repeated)" if fit.steps_per_epoch else "")),
        ("outputs", spec.outputs),
        ("test sets", f"plain, {', '.join(spec.test_variants)}" if spec.test_variants else "plain"),
        ("tutorial", f"{spec.tutorial.title}\n{'':14}{spec.tutorial.source}"),
        ("its result", f"{spec.reference.metric} {format_metric(spec.reference.metric, spec.reference.value)}"
                       + (f" ({spec.reference.note})" if spec.reference.note else "")),
        ("reference", _run_line(card, card.reference)),
        ("your run", _run_line(card, card.latest)),
        ("ONNX file", str(card.onnx_file or "—")),
        ("backends", _fastest_backend(args.name)),
    ]
    if spec.tags:
        rows.append(("tags", ", ".join(spec.tags)))
    for key, value in rows:
        print(f"{key + ':':14}{value}")
    if not args.layers:
        print(f"\n(zoo info {args.name} --layers shows the Keras layer summary)")
    return 0


def _fastest_backend(name: str) -> str:
    """Which Keras backend trained ``name`` fastest in the committed benchmarks (JSON only, no Keras import)."""
    from zoo import backends

    line = backends.fastest_line(name, backends.compare(backends.read_rates()))
    return (line or "not compared yet (tox -e bench-tensorflow, bench-jax, bench-torch)").replace("\n", "\n" + " " * 14)


def _run_line(card, run) -> str:
    from zoo.report import format_metric

    if run is None:
        return "not run"
    speed = f", {run.train_samples_per_sec:,.0f} training samples/s" if run.train_samples_per_sec else ""
    return f"{card.metric} {format_metric(card.metric, run.value)} ({run.created}{speed}) in {run.folder}"


def cmd_plugins(args) -> int:
    from zoo import api
    from zoo.plugins import load_registry

    infos = list(load_registry().plugins.values())
    # A model that has never been run, from a plugin outside zoo, is built once to see that build() works.
    build_errors = {name: card.build_error for info in infos if not info.builtin for name in info.models
                    if (card := api.card(name)).build_error}
    if args.json:
        print(json.dumps([{**vars(i), "error": i.error, "status": i.status,
                           "build_errors": {m: build_errors[m] for m in i.models if m in build_errors}}
                          for i in infos], indent=2))
        return 0
    from zoo.table import format_table

    def registered(info) -> str:
        if info.skipped:
            return "left out by ZOO_PLUGINS"
        parts = [*(f"dataset {d}" for d in info.datasets),
                 *(f"model {m}" + (" (build failed)" if m in build_errors else "") for m in info.models)]
        return "; ".join([", ".join(parts) or "nothing", *info.problems])

    print(format_table(["plugin", "package", "status", "registered; problems"], [
        [i.name, f"{i.package or '?'} {i.version or ''}".strip(),
         "failed" if i.status == "ok" and any(m in build_errors for m in i.models) else i.status, registered(i)]
        for i in infos]))
    for name, error in build_errors.items():
        print(f"zoo: warning: {name}: {error}", file=sys.stderr)
    return 0


def cmd_datasets(args) -> int:
    from zoo.datasets import locate
    from zoo.plugins import load_registry
    from zoo.table import format_table

    registry = load_registry()
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
    names = _chosen(args, "run")
    from zoo import backend_choice

    # Keras' backend is fixed per process at import: entries for another backend run in a child `zoo run`.
    here = backend_choice.configured_backend()
    # With --distribute auto keeps this process's backend, so a run (which a multi-worker run re-runs whole on
    # every worker) has one group, as an explicit --backend gives.
    groups = backend_choice.plan(names, args.backend, backend_choice.device_kind(args.device),
                                 distributed=args.distribute != "none", precision=args.precision)
    for line in backend_choice.notes({n: c for _, _, choices in groups for n, c in choices.items()}, here):
        print(f"zoo: note: {line}", file=sys.stderr)  # before any training: where each entry goes and why
    code = 0
    for backend, group, choices in groups:
        if backend == here:
            done = _run_here(args, group, {**choices, **backend_choice.inherited(group, backend)})
        else:
            done = _run_in_child(args, backend, group, choices)
        code = code or done
    return code


def _run_in_child(args, backend: str, names: list[str], choices: dict) -> int:
    """``zoo run``/``zoo bench`` of ``names`` under ``backend`` in a child process (zoo.child_run); its exit code."""
    from zoo.child_run import run_in_child

    return run_in_child(build_parser(), args.argv, backend, names, choices)


def _run_here(args, names: list[str], choices: dict) -> int:
    """Train ``names`` in this process (under its backend); ``choices``: each one's backend Choice, for its report."""
    from zoo import locations
    from zoo.web.leaderboard import write_leaderboard
    from zoo.report import format_metric
    from zoo.run import RunOptions, run_model
    from zoo.table import format_table

    seeds = _seeds(args)
    distribution = _distribution(args, names)
    if isinstance(distribution, int):  # this process supervised a multi-worker run: its exit code
        return distribution
    options = RunOptions(epochs=args.epochs, batch_size=args.batch_size, seed=seeds[0], device=args.device,
                         data_dir=args.data_dir, out=args.out, resume=args.resume, mobile=args.mobile, int8=args.int8,
                         export=args.export,
                         # Keras' live progress bar on a terminal; one line per epoch in a log file.
                         verbose=1 if sys.stdout.isatty() else 2)

    def run(name):
        from zoo.api import get_spec

        print(f"== {name}: {get_spec(name).description}", flush=True)
        try:
            with _other_seeds(name, seeds, args, choices.get(name)) as others:
                chosen = choices[name].record() if name in choices else None
                result = run_model(name, dataclasses.replace(options, other_seeds=others, backend_choice=chosen),
                                   distribution=distribution)
        except KeyboardInterrupt:
            print(f"zoo: {name} stopped; continue it with 'zoo run {name} --resume"
                  f"{'' if args.out is None else f' --out {args.out}'}'", file=sys.stderr)
            raise
        if result is None:  # a worker of a multi-worker run: the chief writes
            return None
        onnx = result.report.get("onnx", {})
        if onnx.get("skipped") and args.export:
            print(f"zoo: note: {name}: {onnx['skipped']}", file=sys.stderr)
        retry = f"zoo export {name}{'' if args.out is None else f' --out {args.out}'}"
        if onnx.get("failed"):
            then = (f"retry with '{retry}'" if onnx.get("retry_can_help", True) else
                    "model.keras is saved and usable in Keras; an ONNX export needs a model without that layer")
            raise ZooError(f"trained and saved to {result.folder}, but the ONNX export failed: {onnx['failed']}; "
                           f"{then}")
        _device_copy_notes(name, onnx)
        if onnx.get("device_copies"):
            raise ZooError(f"trained and exported to {result.folder}, but its device-sized copies failed: "
                           f"{onnx['device_copies']['failed']}; retry with '{retry}'"
                           f"{' --mobile' if args.mobile else ''}{' --int8' if args.int8 else ''}")
        return result

    done, code = _for_each(names, run, "runs", args)
    if distribution is not None:
        distribution.finish()
    rows = []
    for name, result in done:
        if result is None:
            continue
        metric, value = result.evaluation.primary
        spec = result.spec
        ref = spec.reference.value if spec.reference.metric == metric else None
        variants = "; ".join(f"{n} {format_metric(metric, s.get(metric))}" for n, s in result.evaluation.variants.items())
        rows.append([name, f"{metric} {format_metric(metric, value)}" + (f" ({variants})" if variants else ""),
                     format_metric(metric, ref), _reached(result.report.get("time_to_target")),
                     *([_spread(result.report.get("seeds"))] if args.seeds else []),
                     f"{result.trained.samples_per_sec:,.0f}", f"{result.trained.wall_seconds:.1f}",
                     result.paths["report_md"]])
    if rows:
        print()
        print(format_table(["model", "zoo", "tutorial", "to target s", *(["seeds: median (min–max)"] if args.seeds
                                                                          else []),
                            "train samples/s", "fit s", "report"], rows))
        print(f"leaderboard: {write_leaderboard(args.out or locations.runs_dir())}")
    return code


def _reached(record: dict | None) -> str:
    """The time-to-target column: seconds, "not reached" or "—" (not timed)."""
    if not record or record.get("reached") is None:
        return "—"
    return f"{record['seconds']:.1f}" if record["reached"] else "not reached"


def _spread(record: dict | None) -> str:
    """The seeds column: the metric's median (min–max) and how many seeds reached the target."""
    from zoo.report import format_metric, format_spread

    if not record or record["median"] is None:
        return "—"
    metric, times = record["metric"], record.get("time_to_target")
    reached = f"; {times['reached']}/{times['of']} reached target" if times else ""
    return format_spread(record, lambda v: format_metric(metric, v)) + reached


def _seeds(args) -> tuple[int, ...]:
    """The seeds ``zoo run`` trains: ``--seeds``' list, else ``--seed`` alone."""
    if args.seeds is None:
        if args.jobs is not None:
            raise ZooError("--jobs goes with --seeds: it sets how many seeds train at once")
        return (args.seed,)
    from zoo.seeds import parse_seeds

    if args.resume or args.distribute != "none":
        raise ZooError("--seeds trains every seed from scratch on one device; drop --resume and --distribute")
    return parse_seeds(args.seeds)


def _other_seeds(name: str, seeds: tuple[int, ...], args, choice=None):
    """zoo.seeds.other_seeds for ``name``, with the options every seed's run shares; ``choice``: the kept run's
    zoo.backend_choice.Choice."""
    from zoo.backend_choice import configured_backend
    from zoo.seeds import default_jobs, other_seeds

    here = configured_backend()
    passed = [*(["--epochs", str(args.epochs)] if args.epochs else []),
              *(["--batch-size", str(args.batch_size)] if args.batch_size else []),
              "--device", args.device, *(["--data-dir", args.data_dir] if args.data_dir else []),
              # Every seed trains as the kept run does, whatever auto would pick in the seed's process.
              *(choice.flags() if choice is not None and choice.backend == here else ["--backend", here])]
    jobs = args.jobs or default_jobs(len(seeds))
    if len(seeds) > 1:
        print(f"   seeds {', '.join(map(str, seeds))}: {jobs} training at once", flush=True)
    return other_seeds(name, seeds, passed, jobs)


def _distribution(args, names: list[str]):
    """The Distribution ``zoo run``'s flags ask for (None for a plain run); for a multi-worker run started from a
    terminal, this process supervises the worker instead and the worker's exit code comes back (an int)."""
    from zoo.distributed.distribution import DistributeSettings, logical_cpus_from_env, read_cluster

    settings = DistributeSettings(args.distribute, scale_batch=args.scale_batch, logical_cpus=args.cpu_devices,
                                  join_timeout_s=args.join_timeout, heartbeat_timeout_s=args.heartbeat_timeout)
    if settings.strategy == "none" and settings.logical_cpus is None and logical_cpus_from_env() is None:
        return None
    from zoo.distributed.engines import setup_distribution
    from zoo.environment import backend
    from zoo.distributed.supervise import is_child, supervise

    cluster = read_cluster(backend()) if settings.strategy != "none" else None
    if cluster is not None and cluster.multi_worker:
        if len(names) > 1:
            raise ZooError(f"a multi-worker run trains one entry; run {', '.join(names)} one at a time")
        if not is_child():
            return supervise([sys.executable, "-m", "zoo", *args.argv], cluster, names[0])
    return setup_distribution(settings, device=args.device)


def _leave_cluster_now(args) -> None:
    """A worker of a multi-worker run that failed exits at once: the engines' exit handlers would wait on lost
    peers and log after zoo's line."""
    from zoo.distributed.supervise import is_child

    if getattr(args, "distribute", "none") != "none" and is_child():
        sys.stderr.flush()
        sys.stdout.flush()
        os._exit(1)


def cmd_export(args) -> int:
    from zoo.run import export_saved_run
    from zoo.table import format_table

    if args.triton is not None:
        return _export_triton(args)
    done, code = _for_each(_chosen(args, "export"), lambda name: export_saved_run(
        name, args.out, args.data_dir, mobile=args.mobile, int8=args.int8), "exports", args)
    rows = []
    for name, run in done:
        facts = run.report["onnx"]
        _device_copy_notes(name, facts)
        check = facts["validation"]
        rows.append([name, f"{facts['bytes']:,}", facts["opset"], f"{check['samples']:,}",
                     f"{check['max_abs_diff']:.2g}",
                     "—" if check["class_mismatches"] is None else f"{check['class_mismatches']:,}", run.paths["onnx"]])
    if rows:
        print(format_table(["model", "bytes", "opset", "samples checked", "max |ort - keras|", "class diffs",
                            "file"], rows))
    return code


def _export_triton(args) -> int:
    from zoo.exports.predict import export_folder
    from zoo.exports.triton import write_triton_model

    if args.mobile or args.int8:
        raise ZooError("--triton writes the existing end-to-end exports; drop --mobile/--int8 (Triton serves the "
                       "float model)")
    done, code = _for_each(_chosen(args, "export"), lambda name: write_triton_model(
        export_folder(name, args.out), name, args.triton, max_batch_size=args.max_batch_size), "Triton models", args)
    for name, folder in done:
        print(f"{name}: {folder}")
    if done:
        print(f"zoo: Triton model repository in {args.triton}: tritonserver --model-repository={args.triton.resolve()}")
    return code


def _device_copy_notes(name: str, facts: dict) -> None:
    """What a user who asked for --int8 or --mobile should hear of copies that were not written or are limited."""
    from zoo.exports.device_summary import mobile_note

    if (facts.get("int8") or {}).get("skipped"):
        print(f"zoo: note: {name}: no int8 copy: {facts['int8']['skipped']}", file=sys.stderr)
    note = mobile_note(facts)
    if note:
        print(f"zoo: note: {name}: {note}", file=sys.stderr)


def cmd_predict(args) -> int:
    from zoo.api import load_onnx
    from zoo.exports.predict import predict_files

    export = load_onnx(args.name, out=args.out)
    predictions = predict_files(export, args.files, top=args.top)
    if args.json:
        print(json.dumps([p.as_json() for p in predictions], indent=2, allow_nan=False))
    else:
        for prediction in predictions:
            print(prediction.describe())
    return 0


def cmd_check(args) -> int:
    from collections import Counter

    from zoo.checks import CHECKS, run_checks
    from zoo.plugins import load_registry
    from zoo.reference import entries_of

    registry = load_registry()
    names = [spec.name for spec in registry.select(args.names)] if args.names else entries_of(registry, args.plugin)
    width, check_width = max(map(len, names)), max(map(len, CHECKS))
    counts: Counter[str] = Counter()
    for result in run_checks(names, registry, args.data_dir):  # a line as each check ends: some train and export
        counts[result.status] += 1
        print(f"{result.entry:<{width}}  {result.check:<{check_width}}  {result.status:<7}  "
              f"{result.seconds:5.1f} s  {result.message}", flush=True)
    parts = ", ".join(f"{counts[k]} {k}" for k in ("passed", "failed", "skipped") if counts[k])
    print(f"zoo check: {sum(counts.values())} checks of {len(names)} model(s) ran: {parts}")
    if counts["failed"]:
        raise ZooError(f"{counts['failed']} check(s) failed; each says why above")
    return 0


def cmd_new(args) -> int:
    from zoo.new_plugin import new_plugin

    dest = new_plugin(args.dest, args.name, args.description)
    print(f"plugin {args.name!r} written to {dest}; next: pip install -e '{dest}[test]', then pytest in {dest}, "
          f"then 'zoo reference {args.name} --dest {dest}/zoo_{args.name}/reference' (see its README)")
    return 0


def cmd_reference(args) -> int:
    from zoo.reference import build_reference
    from zoo.seeds import parse_seeds

    seeds = parse_seeds(args.seeds) if args.seeds else (args.seed,)
    names = build_reference(args.dest, args.data_dir, seeds, plugin=args.plugin, epochs=args.epochs, jobs=args.jobs,
                            backend=args.backend, precision=args.precision)
    print(f"reference set of {len(names)} entr{'y' if len(names) == 1 else 'ies'} ({', '.join(names)}) written to "
          f"{args.dest}; declare it with zoo.ReferenceSet(folder=...) and ship it as package data")
    return 0


def cmd_serve(args) -> int:
    from zoo import locations
    from zoo.web.serve import serve

    from zoo.web.serve import Limits

    limits = Limits(max_batch=args.max_batch_size, batch_wait_ms=args.batch_wait_ms,
                    max_connections=args.max_connections, request_timeout=args.request_timeout,
                    allow_hosts=tuple(args.allow_host))
    return serve(args.out or locations.runs_dir(), args.host, args.port, args.data_dir, limits)


def cmd_report(args) -> int:
    from zoo import locations
    from zoo.web.leaderboard import write_leaderboard

    out = args.out or locations.runs_dir()
    if not args.names:
        print(write_leaderboard(out, args.benchmarks))
        return 0
    from zoo.plugins import load_registry
    from zoo.run import refresh_report

    names = [spec.name for spec in load_registry().select(args.names)]
    done, code = _for_each(names, lambda name: refresh_report(name, out, args.data_dir), "reports")
    for name, result in done:
        plots = len(result.report["plots"])
        print(f"{name}: {plots} plot{'s' * (plots != 1)}, {result.paths['report_md']}, {result.paths['report_html']}")
    return code


def cmd_bench(args) -> int:
    names = _chosen(args, "benchmark")
    if args.backend is not None:  # before zoo.bench imports Keras, which fixes this process's backend
        from zoo.backend_choice import choose, configured_backend

        # A benchmark measures the backend asked for: the whole command re-runs in a child under it.
        wanted = choose("", args.backend).backend
        if wanted != configured_backend():
            return _run_in_child(args, wanted, names, {})
    from zoo import bench, environment, files
    from zoo.table import format_table

    devices = bench.DEVICES if args.device == "all" else (args.device,)
    unknown = sorted(set(args.mode or ()) - set(bench.BENCH_MODES))
    if unknown:
        raise ZooError(f"--mode {unknown[0]}: not a benchmark mode; choose from {', '.join(bench.BENCH_MODES)}")
    results = bench.run_benchmarks(names, devices, seconds=args.seconds, data_dir=args.data_dir,
                                   modes=tuple(args.mode or bench.BENCH_MODES), precision=args.precision,
                                   progress=lambda line: print(line, file=sys.stderr))
    headers, rows = bench.summary(results)
    print(format_table(headers, rows))
    for device, peak in sorted({(r["device"], r["matmul_peak_gflops"]) for r in results if r.get("matmul_peak_gflops")}):
        print(f"{device} dense float32 matmul peak measured in this run: {peak:,.1f} GFLOP/s")
    if args.json:
        files.write_json(args.json, {"results": results, "versions": environment.versions()})
    from zoo.measured_backends import record, rates_file

    if record(results):  # what --backend auto chooses from for entries zoo's shipped table lacks
        print(f"training rates recorded in {rates_file()} for --backend auto", file=sys.stderr)
    return 0


def cmd_bench_compare(args) -> int:
    from zoo import bench_compare
    from zoo.table import format_table

    try:
        found = bench_compare.run_compare(args.baseline, args.new, args.storage or bench_compare.default_storage(),
                                          args.config or bench_compare.default_config())
    except bench_compare.CompareError as exc:
        print(f"zoo: error: {exc}", file=sys.stderr)
        return 2
    print(f"baseline: {found.baseline.path} ({found.baseline.created})")
    print(f"new:      {found.new.path} ({found.new.created})")
    print(format_table(*bench_compare.table(found)))
    for note in found.notes:
        print(f"note: {note}")
    for change in found.regressions:
        print(change.message(), file=sys.stderr)
    return 1 if found.regressions else 0
