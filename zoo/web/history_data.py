"""What the leaderboard's history charts show: per entry, its benchmark rates and headline metric in every stored run.

Benchmark runs are the pytest-benchmark JSON files under ``benchmarks/results`` (read by
``zoo.bench_compare.load_run``); zoo runs are the lines of ``<out>/history.jsonl`` (``zoo.run_history``).
A benchmark point is flagged when the gate, ``zoo bench compare``, would call its case a regression against
the previous stored run of the same case on the same machine and backend (``bench_compare.compare_case``
under ``bench_compare.threshold_for``'s thresholds).
"""

from __future__ import annotations

import datetime
import math
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo import bench_compare
from zoo.bench_compare import Change, Run
from zoo.report import format_metric
from zoo.run_history import RunRecord, read_runs
from zoo.web.history_charts import Chart, Point, Series

RATES = {"train": "training samples/s", "infer": "inference samples/s"}  # chart kind: y-axis title


@dataclass(frozen=True)
class Case:
    """One benchmark case of one stored run, and the gate's verdict on it against its ``baseline``."""

    run: Run
    when: datetime.datetime
    name: str  # bench_compare.case_id
    extra: Mapping[str, Any]  # the case's extra_info
    baseline: Case | None = None  # the previous stored run of this case, machine and backend
    changes: tuple[Change, ...] = ()

    @property
    def regression(self) -> Change | None:
        return next((change for change in self.changes if change.regressed), None)


def stored_runs(folder: Path) -> list[tuple[datetime.datetime, Run]]:
    """Every readable pytest-benchmark run under ``folder`` with its date, oldest first."""
    runs = []
    for path in sorted(Path(folder).rglob("*.json")) if Path(folder).is_dir() else []:
        try:
            run = bench_compare.load_run(path)
        except bench_compare.CompareError:
            continue
        runs.append((run_date(run.created, path), run))
    return sorted(runs, key=lambda item: (item[0], str(item[1].path)))


def run_date(stamp: Any, path: Path) -> datetime.datetime:
    """A run's date in UTC: its ISO 8601 ``stamp`` (pytest-benchmark writes UTC, some without an offset), else
    the file's modification time."""
    if isinstance(stamp, str):
        try:
            moment = datetime.datetime.fromisoformat(stamp)
        except ValueError:
            pass
        else:
            moment = moment if moment.tzinfo else moment.replace(tzinfo=datetime.timezone.utc)
            return moment.astimezone(datetime.timezone.utc)
    return datetime.datetime.fromtimestamp(path.stat().st_mtime, datetime.timezone.utc)


def judged_cases(runs: list[tuple[datetime.datetime, Run]], overrides: Mapping[str, float]) -> list[Case]:
    """Every case of ``runs`` (oldest first), each with the gate's changes against the previous run of it."""
    previous: dict[tuple[str, str, Any], Case] = {}
    cases = []
    for when, run in runs:
        for name, extra in run.cases.items():
            if not isinstance(extra, Mapping):
                continue
            key = (run.machine or run.path.parent.name, name, extra.get("backend"))
            before = previous.get(key)
            changes = _changes(name, before.extra, extra, overrides) if before else ()
            previous[key] = case = Case(run, when, name, extra, before, changes)
            cases.append(case)
    return cases


def _changes(name: str, old: Mapping, new: Mapping, overrides: Mapping[str, float]) -> tuple[Change, ...]:
    try:
        return tuple(bench_compare.compare_case(name, old, new, bench_compare.threshold_for(name, overrides))[0])
    except (AttributeError, TypeError):  # a malformed extra_info (a 'relative' that is not a table)
        return ()


def rate_charts(cases: list[Case]) -> list[Chart]:
    """Training samples/s (one line per backend), then inference samples/s, a chart per backend (one line
    per runtime and batch size): lines that the gate compares with each other are drawn together."""
    backends = sorted({_backend(c) for c in cases if str(c.extra.get("mode")).startswith("infer")})
    infer = [rate_chart("infer", [c for c in cases if _backend(c) == b], b) for b in backends]
    return [rate_chart("train", cases)] + (infer or [rate_chart("infer", [])])


def rate_chart(kind: str, cases: Iterable[Case], backend: str = "") -> Chart:
    """Training (``kind`` "train") or inference samples/s of ``cases`` (all of one ``backend`` if given): one line
    per backend, runtime, batch size and device (and machine, where several ran the entry)."""
    groups: dict[tuple[str, ...], list[Point]] = defaultdict(list)
    for case in cases:
        value = _number(case.extra.get(f"{kind}_samples_per_sec"))
        if value is not None and value > 0 and str(case.extra.get("mode", "")).startswith(kind):
            key = _setting(case)
            groups[key[1:] if backend else key].append(_rate_point(case, value))  # the title names the backend
    several_machines = len({key[-1] for key in groups}) > 1
    series = tuple(Series(" · ".join(x for x in (key if several_machines else key[:-1]) if x), tuple(points))
                   for key, points in sorted(groups.items()))
    title = f"{RATES[kind].capitalize()}{f', {backend}' if backend else ''} (benchmark runs)"
    return Chart(f"{kind}-{backend}" if backend else kind, title, RATES[kind], series)


def _backend(case: Case) -> str:
    return str(case.extra.get("backend") or "?")


def _setting(case: Case) -> tuple[str, ...]:
    """(backend, runtime, batch, device, machine): what one line of a rate chart holds fixed."""
    extra, batch = case.extra, _number(case.extra.get("batch_size"))
    runtime = str(extra.get("mode", "")).partition("_")[2]  # infer_onnx: onnx; train: ''
    return (_backend(case), runtime, f"batch {batch:g}" if batch else "",
            str(extra.get("device") or ""), case.run.machine or case.run.path.parent.name)


def _rate_point(case: Case, value: float) -> Point:
    extra = case.extra
    lines = [f"{when_label(case.when)} · {value:,.0f} samples/s",
             f"commit {short_commit(case.run.commit)} · {case.run.machine or '?'} · backend {extra.get('backend')}",
             f"run {case.run.path.name} · {case.name}"]
    flag, change = "", next((c for c in case.changes if c.figure == "samples_per_sec"), None)
    if case.regression and case.baseline:
        flag = (f"{case.regression.message()}, against run {case.baseline.run.path.name} of "
                f"{when_label(case.baseline.when)}")
        lines.append(flag)
    elif change and case.baseline:
        lines.append(f"{change.change:+.1%} ({change.basis}) on run {case.baseline.run.path.name}; "
                     f"the gate allows a {change.threshold:.0%} slowdown")
    return Point(case.when, value, "\n".join(lines), flag)


def metric_chart(records: Iterable[RunRecord], label: Callable[[str], str] = str) -> Chart:
    """The headline metric of every recorded run of an entry (the newest run's metric), one line per backend
    and machine; ``label`` names a metric for people (``r2``: ``R²``)."""
    ordered = sorted(records, key=lambda r: run_date(r.finished, Path()))
    metric = ordered[-1].metric_name if ordered else ""
    groups: dict[tuple[str, str], list[Point]] = defaultdict(list)
    for record in ordered:
        if record.metric_name == metric and record.metric_value is not None:
            groups[(record.backend, record.machine)].append(_metric_point(record, label(metric)))
    series = tuple(Series(" · ".join(key), tuple(points)) for key, points in sorted(groups.items()))
    tick = (lambda v: f"{v * 100:.4g}%") if metric == "accuracy" else (lambda v: f"{v:.4g}")
    title = f"Headline metric{f', {label(metric)}' if metric else ''} (zoo runs)"
    return Chart("metric", title, f"{label(metric)} (test split)", series, tick)


def _metric_point(record: RunRecord, name: str) -> Point:
    when = run_date(record.finished, Path())
    lines = [f"{when_label(when)} · {name} {format_metric(record.metric_name, record.metric_value)}",
             f"commit {short_commit(record.commit)} · {record.machine} · backend {record.backend} · "
             f"seed {record.seed}"]
    if record.train_samples_per_sec is not None:
        lines.append(f"training {record.train_samples_per_sec:,.0f} samples/s")
    if record.time_to_target_s is not None:
        lines.append(f"time to target {record.time_to_target_s:,.1f} s")
    return Point(when, float(record.metric_value or 0.0), "\n".join(lines))


def gather(names: Iterable[str], out: Path, benchmarks: Path, overrides: Mapping[str, float],
           label: Callable[[str], str] = str) -> dict[str, tuple[Chart, ...]]:
    """Per entry of ``names``: its training and inference samples/s charts (``rate_charts``) from the runs under
    ``benchmarks``, and its metric chart from ``<out>/history.jsonl``."""
    cases: dict[Any, list[Case]] = defaultdict(list)
    for case in judged_cases(stored_runs(benchmarks), overrides):
        cases[case.extra.get("model")].append(case)
    records: dict[str, list[RunRecord]] = defaultdict(list)
    for record in read_runs(out):
        records[record.entry].append(record)
    return {name: (*rate_charts(cases[name]), metric_chart(records[name], label)) for name in names}


def when_label(when: datetime.datetime) -> str:
    return when.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def short_commit(commit: str | None) -> str:
    """``d74fc89``, ``d74fc89 (dirty)``, or ``unknown``."""
    if not commit:
        return "unknown"
    return commit[:7] + (" (dirty)" if commit.endswith("+dirty") else "")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
