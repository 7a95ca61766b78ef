"""Every Keras backend compared in one place, from the committed pytest-benchmark JSON.

Each ``tox -e bench-<backend>`` run writes one JSON file under ``benchmarks/results/``; this module
merges them: per machine and device, per entry, the training and Keras-inference samples/s under each
backend and which backend was fastest. ``zoo info`` says the fastest, the leaderboard and
``benchmarks/results/README.md`` show the table (``python -m zoo.backends --write FILE`` rewrites the
part of FILE between the markers). Reads JSON only: no TensorFlow, Keras or zoo registry import.
"""

from __future__ import annotations

import argparse
import html
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from zoo.precision import FLOAT32, label, split, variant

BACKENDS = ("tensorflow", "jax", "torch")
# (column heading, benchmark mode, batch size; None: the entry's own training batch)
MEASURES = (("train", "train", None), ("Keras b1", "infer_keras", 1), ("Keras b256", "infer_keras", 256))
START, END = "<!-- zoo.backends:start -->", "<!-- zoo.backends:end -->"


@dataclass(frozen=True)
class Speedup:
    """zoo's training path against a plain Keras script on one entry, backend and device (the overhead case)."""

    model: str
    backend: str
    device: str
    device_name: str
    steady: float  # zoo/plain samples/s in each fit call's steady state
    whole: float  # the same over whole fit calls, start-up included
    steps_per_execution: int
    created: str


@dataclass(frozen=True)
class Rate:
    """One measured rate: an entry's samples/s under one backend, on one device, from one benchmark file."""

    model: str
    mode: str
    batch: int | None
    backend: str
    device: str  # cpu or gpu
    device_name: str
    samples_per_sec: float
    created: str  # the benchmark run's date
    source: str  # the JSON file


def default_folder() -> Path:
    """The committed results: ``benchmarks/results`` of the source checkout zoo runs from, else of the
    current directory."""
    checkout = Path(__file__).resolve().parent.parent / "benchmarks" / "results"
    return checkout if checkout.is_dir() else Path("benchmarks/results")


def _benchmark_files(folder: Path | None) -> Iterable[tuple[str, str, list]]:
    """(date, path, benchmarks) of every readable pytest-benchmark JSON under ``folder``."""
    folder = Path(folder) if folder is not None else default_folder()
    for path in sorted(folder.rglob("*.json")) if folder.is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("benchmarks"), list):
            yield str(data.get("datetime") or ""), str(path), data["benchmarks"]


def read_rates(folder: Path | None = None) -> list[Rate]:
    """Every training and Keras-inference rate in the pytest-benchmark JSON under ``folder``, the newest
    file's where several measured the same thing; unreadable files and entries are skipped."""
    newest: dict[tuple, Rate] = {}
    for created, path, benchmarks in _benchmark_files(folder):
        for rate in _rates(benchmarks, created, path):
            key = (rate.model, rate.mode, rate.batch, rate.backend, rate.device, rate.device_name)
            if key not in newest or newest[key].created <= rate.created:
                newest[key] = rate
    return list(newest.values())


def read_speedups(folder: Path | None = None) -> list[Speedup]:
    """zoo's speedup over the plain script per entry, backend and device, from the newest file that has it
    (files from before zoo measured speedups have none)."""
    newest: dict[tuple, Speedup] = {}
    for created, _, benchmarks in _benchmark_files(folder):
        for bench in benchmarks:
            extra = bench.get("extra_info") if isinstance(bench, dict) else None
            if not isinstance(extra, dict) or extra.get("mode") != "overhead" or "steady_speedup" not in extra:
                continue
            found = Speedup(str(extra.get("model")), str(extra.get("backend")), str(extra.get("device", "cpu")),
                            str(extra.get("device_name", "")), float(extra["steady_speedup"]),
                            float(extra.get("speedup", math.nan)), int(extra.get("steps_per_execution", 1)), created)
            key = (found.model, found.backend, found.device, found.device_name)
            if key not in newest or newest[key].created <= created:
                newest[key] = found
    return list(newest.values())


def speedup_markdown(speedups: list[Speedup]) -> str:
    """One table per device (and machine): per entry and backend, zoo/plain on the steady state and on
    whole fit calls, with the steps per call zoo chose."""
    blocks = []
    groups: dict[tuple[str, str], list[Speedup]] = {}
    for s in speedups:
        groups.setdefault((s.device, s.device_name), []).append(s)
    for (device, name), group in sorted(groups.items(), key=lambda kv: (kv[0][0] != "cpu", kv[0])):
        seen = {s.backend for s in group}
        backends = [b for b in BACKENDS if b in seen] + sorted(seen - set(BACKENDS))
        by = {(s.model, s.backend): s for s in group}
        headers = ["entry"] + [f"{label(b)} zoo/plain (steady; whole calls; steps per call)" for b in backends]
        lines = [f"**{device.upper()}: {name}**, zoo's training path over a plain Keras script "
                 f"(benchmark runs of {', '.join(sorted({s.created[:10] for s in group}))})", "",
                 "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        for model in sorted({s.model for s in group}):
            cells = [f"{s.steady:.2f}×; {s.whole:.2f}×; {s.steps_per_execution}" if (s := by.get((model, b)))
                     else "—" for b in backends]
            lines.append("| " + " | ".join([model, *cells]) + " |")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _rates(benchmarks: list, created: str, source: str) -> Iterable[Rate]:
    for bench in benchmarks:
        extra = bench.get("extra_info") if isinstance(bench, dict) else None
        if not isinstance(extra, dict) or extra.get("mode") not in ("train", "infer_keras"):
            continue
        value = extra.get("samples_per_sec")
        backend, model = extra.get("backend"), extra.get("model")
        if isinstance(backend, str):  # a mixed-precision rate is a variant of its backend, ranked beside the rest
            backend = variant(backend, str(extra.get("precision") or FLOAT32))
        if not (isinstance(value, int | float) and math.isfinite(value) and value > 0 and isinstance(model, str)
                and isinstance(backend, str)):
            continue
        batch = extra.get("batch_size") if extra["mode"] == "infer_keras" else None
        yield Rate(model, extra["mode"], batch, backend, str(extra.get("device", "cpu")),
                   str(extra.get("device_name", "")), float(value), created, source)


@dataclass(frozen=True)
class Comparison:
    """One entry on one device of one machine: samples/s per measure and backend."""

    model: str
    device: str
    device_name: str
    rates: dict[tuple[str, str], float]  # (measure heading, backend) -> samples/s
    created: str  # the newest date among them

    def fastest(self, measure: str) -> tuple[str, float, dict[str, float]] | None:
        """The fastest backend on ``measure`` with its rate and every backend's, when at least two were measured."""
        by_backend = {b: r for (m, b), r in self.rates.items() if m == measure}
        if len(by_backend) < 2:
            return None
        best = max(by_backend, key=by_backend.get)
        return best, by_backend[best], by_backend


def compare(rates: list[Rate]) -> list[Comparison]:
    """The rates grouped per device (and machine) and entry, in a stable order: CPU first, then by name."""
    groups: dict[tuple[str, str, str], dict] = {}
    for rate in rates:
        measure = next((h for h, mode, batch in MEASURES if mode == rate.mode and batch == rate.batch), None)
        if measure is None:
            continue
        group = groups.setdefault((rate.device, rate.device_name, rate.model), {"rates": {}, "created": ""})
        group["rates"][(measure, rate.backend)] = rate.samples_per_sec
        group["created"] = max(group["created"], rate.created)
    return [Comparison(model, device, name, g["rates"], g["created"])
            for (device, name, model), g in sorted(groups.items(), key=lambda kv: (kv[0][0] != "cpu", kv[0]))]


def fastest_line(model: str, comparisons: list[Comparison]) -> str | None:
    """What ``zoo info`` says: the fastest backend to train ``model`` (and for Keras inference at batch 256)
    on each device where two or more backends were measured; None when none was."""
    parts = []
    for c in comparisons:
        if c.model != model or (train := c.fastest("train")) is None:
            continue
        best, rate, every = train
        others = ", ".join(f"{label(b)} {r:,.0f}" for b, r in sorted(every.items()) if b != best)
        line = f"{label(best)} trains fastest on {c.device} ({rate:,.0f} samples/s; {others})"
        infer = c.fastest("Keras b256")
        if infer:
            line += f", {label(infer[0])} infers fastest (Keras, batch 256)"
        parts.append(f"{line}; {c.device_name}, {c.created[:10]}")
    return "\n".join(parts) or None


def _backends(comparisons: list[Comparison]) -> dict[str, list[str]]:
    """Per measure, the backends (and precision variants) measured on it, the plain backends first."""
    columns = {}
    for measure, _, _ in MEASURES:
        seen = {b for c in comparisons for (m, b) in c.rates if m == measure}
        # Every plain backend has a column on every measure, so the tables keep their shape; a variant only
        # where it was measured (bfloat16 training has no inference columns).
        seen |= {b for c in comparisons for (_, b) in c.rates if split(b)[1] == FLOAT32}
        columns[measure] = [b for b in BACKENDS if b in seen] + sorted(seen - set(BACKENDS))
    return columns


def _cell(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def _rows(comparisons: list[Comparison], backends: dict[str, list[str]]) -> list[list[str]]:
    rows = []
    for c in comparisons:
        row = [c.model]
        for measure, _, _ in MEASURES:
            row += [_cell(c.rates.get((measure, b))) for b in backends[measure]]
            best = c.fastest(measure)
            row.append(label(best[0]) if best else "—")
        rows.append(row)
    return rows


def _headers(backends: dict[str, list[str]]) -> list[str]:
    return ["entry"] + [f"{measure} {label(b)}" if b else f"{measure} fastest"
                        for measure, _, _ in MEASURES for b in [*backends[measure], ""]]


def _by_device(comparisons: list[Comparison]) -> dict[tuple[str, str], list[Comparison]]:
    grouped: dict[tuple[str, str], list[Comparison]] = {}
    for c in comparisons:
        grouped.setdefault((c.device, c.device_name), []).append(c)
    return grouped


def markdown(comparisons: list[Comparison]) -> str:
    """One table per device (and machine): a row per entry, samples/s per backend, and the fastest."""
    blocks = []
    for (device, name), group in _by_device(comparisons).items():
        backends = _backends(group)
        headers, rows = _headers(backends), _rows(group, backends)
        sources = sorted({c.created[:10] for c in group})
        lines = [f"**{device.upper()}: {name}** (benchmark runs of {', '.join(sources)}; samples/s)", "",
                 "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) if blocks else "No benchmark results found."


def html_tables(comparisons: list[Comparison]) -> str:
    """The same tables for the leaderboard page ('' when nothing was measured)."""
    blocks = []
    for (device, name), group in _by_device(comparisons).items():
        backends = _backends(group)
        head = "".join(f"<th>{html.escape(h)}</th>" for h in _headers(backends))
        body = "\n".join("<tr>" + "".join(f'<td{" class=num" if i else ""}>{html.escape(v)}</td>'
                                          for i, v in enumerate(row)) + "</tr>" for row in _rows(group, backends))
        blocks.append(f"<h3>{html.escape(device.upper())}: {html.escape(name)}</h3>\n<div class=\"scroll\"><table>"
                      f"<thead><tr>{head}</tr></thead><tbody>\n{body}\n</tbody></table></div>")
    if not blocks:
        return ""
    return ("<h2>Keras backends</h2>\n<p class=\"muted\">Training (steady state, the entry's batch size) and Keras "
            "inference samples/s of each entry under each Keras backend, from the benchmark JSON "
            "(<code>tox -e bench-tensorflow</code>, <code>bench-jax</code>, <code>bench-torch</code>).</p>\n"
            + "\n".join(blocks))


TABLE_SCHEMA = "zoo.backend_table/1"


def choice_row(train: dict[str, float], machine: str, measured: str) -> dict:
    """One entry's row of the choice table: the backends fastest first (ties by name), their training samples/s,
    and where and when they were measured."""
    return {"order": sorted(train, key=lambda b: (-train[b], b)),
            "train_samples_per_sec": {b: round(r, 1) for b, r in sorted(train.items())},
            "machine": machine, "measured": measured}


def choice_table(comparisons: list[Comparison]) -> dict:
    """The table ``--backend auto`` chooses from (``zoo.backend_choice``), shipped as ``zoo/backend_table.json``:
    per device and entry, the backends in order of measured training samples/s, fastest first.

    Only entries measured under two or more backends on a device are in it; where several machines
    measured one, the newest benchmark run's figures count.
    """
    devices: dict[str, dict[str, dict]] = {"cpu": {}, "gpu": {}}
    for c in comparisons:
        train = {b: r for (m, b), r in c.rates.items() if m == "train"}
        row = devices.setdefault(c.device, {}).get(c.model)
        if len(train) < 2 or (row and row["measured"] > c.created):
            continue
        devices[c.device][c.model] = choice_row(train, c.device_name, c.created)
    return {"schema": TABLE_SCHEMA, "measure": "training samples/s, steady state, the entry's batch size",
            "made_by": "python -m zoo.backends --table zoo/backend_table.json (from benchmarks/results)",
            "devices": {d: dict(sorted(rows.items())) for d, rows in sorted(devices.items())}}


def table_text(table: dict) -> str:
    """``choice_table``'s table as the shipped file's text (stable, so a regenerated file diffs cleanly)."""
    return json.dumps(table, indent=1, sort_keys=True) + "\n"


def rewrite(text: str, table: str) -> str:
    """``text`` with the part between START and END replaced by ``table``; ValueError without the markers."""
    if START not in text or END not in text:
        raise ValueError(f"no {START} ... {END} markers to write the table between")
    head, rest = text.split(START, 1)
    return f"{head}{START}\n{table}\n{END}{rest.split(END, 1)[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m zoo.backends", description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=None, help="folder of pytest-benchmark JSON")
    parser.add_argument("--write", type=Path, help="rewrite the table between the markers in this file")
    parser.add_argument("--table", type=Path, help="write the table --backend auto chooses from (zoo/backend_table.json)")
    args = parser.parse_args(argv)
    if args.table is not None:
        from zoo import files

        files.write_text(args.table, table_text(choice_table(compare(read_rates(args.results)))))
        return 0
    table = markdown(compare(read_rates(args.results)))
    speedups = speedup_markdown(read_speedups(args.results))
    table = f"{table}\n\n{speedups}" if speedups else table
    if args.write is None:
        print(table)
        return 0
    from zoo import files

    files.write_text(args.write, rewrite(args.write.read_text(encoding="utf-8"), table))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
