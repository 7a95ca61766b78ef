"""MkDocs hook: the parts of the docs that are generated from the code and the committed files, never typed.

A page asks for a generated part with a marker on a line of its own, ``<!-- zoo:KIND [ARGUMENT] -->``; at build
time the marker is replaced by what the matching function below makes from the files as they are now:

- ``<!-- zoo:cli -->``: the command-line reference, walked from ``zoo.cli.build_parser()`` and
  ``zoo.cli.bench_compare_parser()`` (usage and every argument, with its help, per command);
- ``<!-- zoo:results -->``: the reference results, from ``reference/*/report.json``;
- ``<!-- zoo:exports -->``: the reference exports' validation, from the same reports' ``onnx`` records;
- ``<!-- zoo:bench FILE -->``: the throughput summary of one committed pytest-benchmark JSON file under
  ``benchmarks/results/`` (``zoo.bench.summary``, the table ``tox -e bench`` prints);
- ``<!-- zoo:peers FILE -->``: zoo against the plain PyTorch and plain Keras scripts in one such file
  (``zoo.peer_table.summary``, the suite's closing table of ``benchmarks/test_peers.py``).

(``benchmarks/results/README.md``, whose backend tables ``python -m zoo.backends --write`` generates, is included
whole by the Benchmark results page.)

An unknown marker stops the build. ``tests/test_docs.py`` checks these functions against the files, and the
built site against these functions. Used by ``mkdocs build`` / ``mkdocs serve`` through ``hooks:`` in mkdocs.yml.
"""

from __future__ import annotations

import argparse
import json
import os
import re
from collections.abc import Callable, Iterable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
REFERENCE = REPO / "reference"
RESULTS = REPO / "benchmarks" / "results"
MARKER = re.compile(r"^<!-- zoo:(?P<kind>[a-z]+)(?: (?P<argument>[^ ]+))? -->$", re.MULTILINE)
DASH = "—"


# --- the command-line reference ---------------------------------------------------------------------------

def _cell(text: str) -> str:
    """Text for a Markdown table cell: one line, pipes escaped, ``<`` and ``>`` shown rather than taken as HTML."""
    return " ".join(str(text).split()).replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def _usage(parser: argparse.ArgumentParser) -> str:
    """The parser's usage line(s), wrapped at 80 columns whatever the terminal."""
    formatter = argparse.HelpFormatter(parser.prog, width=80)
    formatter.add_usage(parser.usage, parser._actions, parser._mutually_exclusive_groups)
    return formatter.format_help().strip()


def _arguments(parser: argparse.ArgumentParser) -> list[tuple[str, str]]:
    """(invocation, help) of each argument a user types, in the parser's order; -h and hidden ones left out."""
    formatter = argparse.HelpFormatter(parser.prog, width=80)
    rows = []
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) or action.help == argparse.SUPPRESS:
            continue
        invocation = formatter._format_action_invocation(action)
        text = formatter._expand_help(action) if action.help else ""  # argparse's own %(default)s etc.
        if action.required and action.option_strings:
            text = f"required; {text}" if text else "required"
        rows.append((invocation, text))
    return rows


def _command_section(parser: argparse.ArgumentParser, summary: str) -> str:
    lines = [f"### `{parser.prog}`", ""]
    if summary:
        lines += [summary[0].upper() + summary[1:] + ("" if summary.endswith(".") else "."), ""]
    lines += ["```text", _usage(parser), "```", ""]
    rows = _arguments(parser)
    if rows:
        lines += ["| argument | meaning |", "|---|---|"]
        lines += [f"| `{' '.join(invocation.split())}` | {_cell(text) or DASH} |" for invocation, text in rows]
        lines.append("")
    return "\n".join(lines)


def cli_reference() -> str:
    """The reference of every ``zoo`` command, from the parser the ``zoo`` command itself runs."""
    from zoo.cli import bench_compare_parser, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {choice.dest: choice.help or "" for choice in sub._choices_actions}
    sections = [_command_section(parser, parser.description or "")]
    for name, command in sub.choices.items():
        sections.append(_command_section(command, helps.get(name, "")))
        if name == "bench":
            compare = bench_compare_parser()
            sections.append(_command_section(compare, compare.description or ""))
    return "\n".join(sections).rstrip() + "\n"


# --- the reference results and exports ----------------------------------------------------------------------

def reports(reference: Path = REFERENCE) -> list[dict]:
    """Every ``report.json`` of a reference set, by entry name."""
    return [json.loads(path.read_text(encoding="utf-8")) for path in sorted(reference.glob("*/report.json"))]


def _metric(name: str, value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:.2%}" if name == "accuracy" else f"{value:.4f}"


def _headline(report: dict) -> str:
    measured = report["measured"]
    metrics = report.get("metrics", {})
    if measured["metric"] == "accuracy":
        text = _metric("accuracy", measured["value"])
        for variant, scores in sorted((report.get("test_variants") or {}).items()):
            if "accuracy" in scores:
                text += f"; {variant} {_metric('accuracy', scores['accuracy'])}"
        return text
    text = f"R² {measured['value']:.4f}"
    if "mse" in metrics:
        text += f", MSE {metrics['mse']:.4f}"
    return text


def _seeds(report: dict) -> str:
    """The spread of ``zoo run --seeds``: the metric's median (min–max) and which seeds."""
    from zoo.report import format_spread

    seeds = report.get("seeds")
    if not seeds:
        return DASH
    metric = seeds.get("metric") or report["measured"]["metric"]
    numbers = seeds.get("seeds") or []
    which = f"seeds {numbers[0]}–{numbers[-1]}" if numbers == list(range(numbers[0], numbers[-1] + 1)) and \
        len(numbers) > 1 else "seeds " + ", ".join(str(s) for s in numbers)
    return f"{format_spread(seeds, lambda v: _metric(metric, v))}, {which}"


def _time_to_target(report: dict) -> str:
    """The reference run's time to target: its training seconds and steps, or why there are none."""
    ttt = report.get("time_to_target")
    if not ttt or ttt.get("reached") is None:
        return DASH
    target = f"{ttt.get('metric', '')} ≥ {_metric(ttt.get('metric', ''), ttt.get('target'))}"
    if not ttt.get("reached"):
        return f"{target}: not reached"
    return f"{target}: {ttt['seconds']:.1f} s, {ttt['steps']:,} steps"


def _seeds_to_target(report: dict) -> str:
    """The seeds' time to target: median (min–max) seconds, a seed that never got there counted slowest."""
    times = (report.get("seeds") or {}).get("time_to_target")
    if not times:
        return DASH
    if times.get("median") is None:
        return f"not reached ({times['reached']} of {times['of']})"
    worst = "not reached" if times.get("max") is None else f"{times['max']:.1f}"
    return f"{times['median']:.1f} s ({times['min']:.1f}–{worst}), {times['reached']} of {times['of']} reached"


def _where(found: Iterable[dict]) -> str:
    """Where and with what the reports were made: device, backend and versions, dates."""
    machines = sorted({(r["environment"]["device"]["name"], r["environment"]["backend"],
                        r["environment"]["versions"].get("keras", "?"),
                        r["environment"]["versions"].get(r["environment"]["backend"], "?")) for r in found})
    return "; ".join(f"{device}, Keras {keras} on {backend} {version}"
                     for device, backend, keras, version in machines)


def results_table(reference: Path = REFERENCE) -> str:
    """One row per entry of the reference set: zoo's result beside the tutorial's, the seeds and the time to
    the target where the report records them, training samples/s and steps per backend call."""
    found = reports(reference)
    if not found:
        raise FileNotFoundError(f"no */report.json in {reference}")
    dates = sorted({r["created"][:10] for r in found})
    lines = [f"From `reference/*/report.json` ({len(found)} entries; trained {', '.join(dates)}; "
             f"{_where(found)}).", "",
             "| entry | metric | zoo, reference run | tutorial | seeds: median (min–max) | time to target, reference run "
             "| time to target, seeds | seed | train samples/s | steps per call |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in found:
        training = r.get("training", {})
        rate = training.get("train_samples_per_sec")
        lines.append("| " + " | ".join([
            f"`{r['model']}`", r["measured"]["metric"], _headline(r),
            _metric(r["reference"]["metric"], r["reference"].get("value")), _cell(_seeds(r)),
            _cell(_time_to_target(r)), _cell(_seeds_to_target(r)), str(training.get("seed", DASH)),
            DASH if rate is None else f"{rate:,.0f}", str(training.get("steps_per_execution") or DASH),
        ]) + " |")
    rules = sorted({r["seeds"]["rule"] for r in found if (r.get("seeds") or {}).get("rule")})
    lines += ["", *(f"Seeds: {rule}." for rule in rules)] if rules else []
    return "\n".join(lines) + "\n"


def _shape(shape: list) -> str:
    return "[" + ", ".join("N" if d is None else str(d) for d in shape) + "]"


def _small(value: float | None) -> str:
    return DASH if value is None else f"{value:.1e}"


def exports_table(reference: Path = REFERENCE) -> str:
    """One row per reference export: its input and output, size, and how it matched Keras when validated."""
    found = [r for r in reports(reference) if isinstance(r.get("onnx"), dict) and "validation" in r["onnx"]]
    lines = ["| entry | input | output | model.onnx bytes | test samples compared | max abs diff "
             "| relative (see rule) | on probabilities | classes differing |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in found:
        onnx, check = r["onnx"], r["onnx"]["validation"]
        mismatches = check.get("class_mismatches")
        lines.append("| " + " | ".join([
            f"`{r['model']}`", f"`{onnx['input']['name']}` {_shape(onnx['input']['shape'])}", f"`{onnx['output']['name']}`",
            f"{onnx['bytes']:,}", f"{check['samples']:,}", _small(check.get("max_abs_diff")),
            _small(check.get("max_scaled_diff")), _small(check.get("max_abs_diff_probabilities")),
            DASH if mismatches is None else str(mismatches),
        ]) + " |")
    return "\n".join(lines) + "\n"


# --- benchmark tables ---------------------------------------------------------------------------------------

THROUGHPUT_TESTS = ("test_throughput[", "test_training_overhead[")
PEER_TESTS = ("test_plain_peers[",)


def _run_records(file: str, tests: tuple[str, ...], results: Path, what: str) -> tuple[str, list[dict]]:
    """The saving date (``YYYY-MM-DD HH:MM``) of one committed benchmark run and the extra_info of its ``tests``."""
    path = results / file
    data = json.loads(path.read_text(encoding="utf-8"))
    found = [b["extra_info"] for b in data["benchmarks"] if b["name"].startswith(tests)]
    if not found:
        raise ValueError(f"{path}: no {what}")
    return data["datetime"][:16].replace("T", " "), found


def _markdown_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers),
            *("| " + " | ".join(_cell(c) for c in row) + " |" for row in rows)]


def bench_table(file: str, results: Path = RESULTS) -> str:
    """``zoo.bench.summary`` of one committed benchmark run (a path under ``benchmarks/results/``), as Markdown,
    with the matmul rate measured in that run."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from zoo import bench  # imports Keras: only for the page that asks

    saved, found = _run_records(file, THROUGHPUT_TESTS, results, "throughput cases")
    lines = [f"From `benchmarks/results/{file}` (saved {saved} UTC; samples/s, ratios per entry).", "",
             *_markdown_table(*bench.summary(found))]
    peaks = sorted({(r["device"], r["matmul_peak_gflops"]) for r in found if r.get("matmul_peak_gflops")})
    if peaks:
        lines.append("")
        lines += [f"{device.upper()} dense float32 matmul peak measured in this run: {peak:,.1f} GFLOP/s."
                  for device, peak in peaks]
    return "\n".join(lines) + "\n"


def peers_table(file: str, results: Path = RESULTS) -> str:
    """``zoo.peer_table.summary`` of one committed benchmark run: zoo against the plain PyTorch and plain Keras
    scripts per entry, as Markdown, with the run's date and PyTorch version."""
    from zoo import peer_table  # reads the records only

    saved, found = _run_records(file, PEER_TESTS, results, "plain-script comparisons (test_plain_peers)")
    torch = sorted({r.get("torch_version") or "?" for r in found})
    lines = [f"From `benchmarks/results/{file}` (saved {saved} UTC; training samples/s on the steady state, fastest "
             f"rounds; peak resident memory of each side's process; PyTorch {', '.join(torch)}).", "",
             *_markdown_table(*peer_table.summary(found))]
    return "\n".join(lines) + "\n"


# --- the hook ----------------------------------------------------------------------------------------------

GENERATORS: dict[str, Callable[..., str]] = {
    "cli": cli_reference,
    "results": results_table,
    "exports": exports_table,
    "bench": bench_table,
    "peers": peers_table,
}


def generate(kind: str, argument: str | None = None) -> str:
    """The Markdown a marker stands for; ValueError for a marker nobody generates."""
    if kind not in GENERATORS:
        raise ValueError(f"unknown docs marker 'zoo:{kind}'; known: {', '.join(sorted(GENERATORS))}")
    return GENERATORS[kind](argument) if argument else GENERATORS[kind]()


def expand(markdown: str) -> str:
    """``markdown`` with every marker replaced by what it stands for."""
    return MARKER.sub(lambda m: generate(m["kind"], m["argument"]), markdown)


def on_page_markdown(markdown: str, page, config, files) -> str:  # noqa: ARG001  (MkDocs' hook signature)
    try:
        return expand(markdown)
    except Exception as exc:  # a broken generator stops the build, naming the page
        from mkdocs.exceptions import PluginError

        raise PluginError(f"{page.file.src_uri}: {exc}") from exc
