"""``exports/index.html``: every entry's result beside its tutorial's, in one sortable, self-contained page.

Rows come from ``<out>/*/report.json``; inference (and benchmark training) throughput from
the newest pytest-benchmark JSON under ``benchmarks/results/`` when there is one; export
size from ``<out>/<name>/model.onnx``. Under the table, each entry's history: charts of every stored benchmark
run and every run in ``<out>/history.jsonl`` (``zoo.web.history_data``, drawn by ``zoo.web.history_charts``).
The page has its CSS and a small sorter inline and fetches nothing: it opens the same from disk, a local server,
or a CI artifact.
"""

from __future__ import annotations

import datetime
import html
import json
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo import bench_compare, files
from zoo.bench_compare import machine_name
from zoo.errors import ZooWarning
from zoo.web import history_charts, history_data, webpage
from zoo.web.history_charts import Chart
from zoo.web.history_data import run_date
from zoo.report import format_metric, format_seconds, format_spread, read_report

INDEX = "index.html"
DEFAULT_BENCHMARKS = Path("benchmarks/results")
MISSING = "—"
LOWER_IS_BETTER = {"mse", "mae", "loss"}
METRIC_NAMES = {"r2": "R²", "mse": "MSE", "mae": "MAE"}


@dataclass(frozen=True)
class Throughput:
    """One model's best benchmark numbers, with the setting that reached them."""

    infer: float | None = None  # samples/s
    train: float | None = None
    infer_batch: int | None = None
    train_batch: int | None = None
    device: str | None = None


@dataclass(frozen=True)
class Benchmarks:
    """The benchmark file the leaderboard read and what it holds per model."""

    path: Path
    created: str  # the run's date as pytest-benchmark wrote it, or the file's modification time
    machine: str
    models: dict[str, Throughput]


@dataclass(frozen=True)
class Column:
    """A table column: its heading, whether it sorts as numbers, and its tooltip."""

    label: str
    numeric: bool = False
    help: str = ""


COLUMNS = (
    Column("model", help="the entry's name; hover for its description"),
    Column("dataset"), Column("task"),
    Column("metric", help="the headline metric on the test split: accuracy, or R² for regression"),
    Column("zoo", True, "zoo's measurement on the held-out test split"),
    Column("tutorial", True, "the number the tutorial itself reports, on the same metric"),
    Column("seeds", True, "zoo run --seeds: the metric's median (min–max) over the seeds; sorts by the median"),
    Column("to target s", True, "training seconds until the held-out metric reached the entry's quality target "
                                "(its tutorial's number, or one it states); median over the seeds where there are"),
    Column("parameters", True),
    Column("train samples/s", True, "from the run's report: training steps only, validation excluded"),
    Column("bench train samples/s", True, "from the newest benchmark file, best batch size"),
    Column("bench infer samples/s", True, "inference, from the newest benchmark file, best batch size"),
    Column("ONNX size", True, "size of model.onnx in the entry's folder"),
    Column("report"),
)

SORTER = """
(() => {
  // Click (or Enter on) a heading to sort by it; again to reverse. Numbers sort as numbers
  // (each cell's data-sort holds the raw value), text in natural order; empty cells stay last.
  const table = document.getElementById("leaderboard");
  const body = table.tBodies[0];
  const headings = Array.from(table.tHead.rows[0].cells);
  headings.forEach((th, column) => {
    const sort = () => {
      const numeric = th.classList.contains("num");
      const current = th.getAttribute("aria-sort");
      const ascending = current ? current === "descending" : !numeric;  // numbers: largest first
      headings.forEach(h => h.removeAttribute("aria-sort"));
      th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
      const key = row => {
        const cell = row.cells[column];
        return cell.dataset.sort !== undefined ? cell.dataset.sort : cell.textContent.trim();
      };
      const rows = Array.from(body.rows);
      rows.sort((a, b) => {
        const x = key(a), y = key(b);
        if (x === "" || y === "") return (x === "") - (y === "");
        const order = numeric ? Number(x) - Number(y) : x.localeCompare(y, undefined, {numeric: true});
        return ascending ? order : -order;
      });
      body.append(...rows);
    };
    th.addEventListener("click", sort);
    th.addEventListener("keydown", event => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); sort(); }
    });
  });
})();
"""

OPEN_LINKED = """
(() => {
  // A link to an entry's history (the row's "history", or a bookmarked #history-NAME) opens it.
  const open = () => {
    const target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target && target.tagName === "DETAILS") target.open = true;
  };
  window.addEventListener("hashchange", open);
  open();
})();
"""

STYLE = """
body { max-width: 1400px; }
#leaderboard { font-size: 13px; }
#leaderboard th { cursor: pointer; user-select: none; max-width: 7.5em; vertical-align: bottom; }
#leaderboard td { white-space: nowrap; }
.scroll { overflow-x: auto; }
#leaderboard th:hover { background: #dde7f0; }
#leaderboard th:focus-visible { outline: 2px solid var(--accent); outline-offset: -2px; }
/* A no-break space before the arrow keeps it beside its label. */
#leaderboard th::after { content: "\\00a0\\2195"; color: #9fb3c8; }
#leaderboard th[aria-sort=ascending]::after { content: "\\00a0\\25B2"; color: var(--accent); }
#leaderboard th[aria-sort=descending]::after { content: "\\00a0\\25BC"; color: var(--accent); }
#leaderboard tbody tr:nth-child(even) { background: #f8fafc; }
#leaderboard tbody tr:hover { background: #eef5fc; }
#leaderboard td small { color: var(--muted); }
td.better { color: #2e7d32; font-weight: 600; } td.worse { color: #c62828; font-weight: 600; }
"""


def collect(out: Path) -> list[dict[str, Any]]:
    """Every finished run's report under ``out`` (dot-folders, i.e. staging and swaps, left out)."""
    reports = []
    for folder in sorted(Path(out).iterdir()) if Path(out).is_dir() else []:
        if folder.is_dir() and not folder.name.startswith("."):
            report = read_report(folder)
            if report is not None:
                reports.append(report)
    return reports


def latest_benchmarks(folder: Path = DEFAULT_BENCHMARKS) -> Benchmarks | None:
    """The readable pytest-benchmark JSON under ``folder`` with throughput figures for the most entries, the
    newest (by its own date) of those, or None: a partial rerun of a few cases does not hide a full run."""
    found = []
    for path in Path(folder).rglob("*.json") if Path(folder).is_dir() else []:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("benchmarks"), list):
            found.append((_created(data, path), path, data, throughput_by_model(data["benchmarks"])))
    if not found:
        return None
    created, path, data, models = max(found, key=lambda item: (len(item[3]), item[0], str(item[1])))
    return Benchmarks(path, created, machine_name(data), models)


def throughput_by_model(benchmarks: list[Any]) -> dict[str, Throughput]:
    """Per model, the best inference and training samples/s in pytest-benchmark's ``benchmarks`` list.

    Reads the ``extra_info`` fields ``model``, ``infer_samples_per_sec``, ``train_samples_per_sec``,
    ``batch_size``, ``device`` and ``mode``; an entry with only a mode, a batch size and timing
    stats counts as batch size / mean seconds. Anything malformed is skipped.
    """
    best: dict[str, dict[str, Any]] = {}
    for bench in benchmarks:
        if not isinstance(bench, dict):
            continue
        extra = bench.get("extra_info") if isinstance(bench.get("extra_info"), dict) else {}
        params = bench.get("params") if isinstance(bench.get("params"), dict) else {}
        model = extra.get("model") or params.get("model") or params.get("name")
        if not isinstance(model, str):
            continue
        batch = _number(extra.get("batch_size"))
        found = best.setdefault(model, {})
        for mode in ("infer", "train"):
            rate = _number(extra.get(f"{mode}_samples_per_sec"))
            if rate is None and extra.get("mode") == mode and batch:
                mean = _number((bench.get("stats") or {}).get("mean") if isinstance(bench.get("stats"), dict) else None)
                rate = batch / mean if mean else None
            if rate is not None and rate > found.get(mode, (-1.0,))[0]:
                found[mode] = (rate, int(batch) if batch else None, extra.get("device"))
    result = {}
    for model, found in best.items():
        if found:
            infer, train = found.get("infer"), found.get("train")
            device = next((f[2] for f in (infer, train) if f and isinstance(f[2], str)), None)
            result[model] = Throughput(infer[0] if infer else None, train[0] if train else None,
                                       infer[1] if infer else None, train[1] if train else None, device)
    return result


def render(reports: list[dict[str, Any]], out: Path, benchmarks: Benchmarks | None = None,
           generated: str | None = None, backend_tables: str = "",
           history: Mapping[str, tuple[Chart, ...]] | None = None) -> str:
    """The leaderboard page for ``reports`` (from ``collect``), with links relative to ``out``, each entry's
    ``history`` charts (``history_data.gather``; None: no history section) and ``backend_tables``
    (``zoo.backends.html_tables``) under it."""
    generated = generated or datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    models = benchmarks.models if benchmarks else {}
    ordered = sorted(reports, key=lambda r: (r.get("dataset", ""), -_better_first(r), r["model"]))
    heading = "".join(
        f'<th scope="col" tabindex="0"{" class=num" if c.numeric else ""} title="{html.escape(c.help)}">'
        f"{html.escape(c.label)}</th>" for c in COLUMNS)
    rows = "\n".join(_row(report, Path(out), models.get(report["model"]), history is not None) for report in ordered)
    if benchmarks:
        when = ", ".join(x for x in (benchmarks.created, benchmarks.machine) if x)
        source = f"benchmark columns from <code>{html.escape(str(benchmarks.path))}</code> ({html.escape(when)})"
    else:
        source = f"no benchmark file found, so the benchmark columns show {MISSING}"
    body = f"""<h1>zoo leaderboard</h1>
<p class="lead">{len(reports)} {"entry" if len(reports) == 1 else "entries"} from <code>{html.escape(str(out))}</code>.
Each entry's headline metric on its held-out test split beside the number its tutorial reports
(green: zoo's is higher; red: lower). Click a column heading to sort.</p>
<p class="muted">Try every model in your browser: <code>zoo serve</code> starts the playground on this machine
(the address it prints, http://127.0.0.1:8000/ by default).</p>
<div class="scroll"><table id="leaderboard">
<thead><tr>{heading}</tr></thead>
<tbody>
{rows}
</tbody>
</table></div>
<p class="muted">Training samples/s come from each run's report (training steps only); {source}.
{MISSING}: not measured. Generated {html.escape(generated)} by <code>zoo report</code>.</p>
{"" if history is None else history_section([r["model"] for r in ordered], history)}
{backend_tables}"""
    return webpage.page("zoo leaderboard", body, script=SORTER + OPEN_LINKED, style=STYLE + history_charts.STYLE)


def history_section(names: list[str], history: Mapping[str, tuple[Chart, ...]]) -> str:
    """The History heading and, per entry, its charts in a ``<details>`` that starts open when a point is flagged."""
    blocks = "\n".join(_history_block(name, history.get(name, ())) for name in names)
    return f"""<h2 id="history">History</h2>
<p class="muted">Every stored run of each entry, by date: training and inference samples/s from each benchmark
file under <code>benchmarks/results</code>, and the headline metric of each <code>zoo run</code> recorded in
<code>history.jsonl</code>. Hover a point for its date, commit, machine and backend. A red ring marks a run that
<code>zoo bench compare</code> flags as a regression against the previous stored run of the same case on the same
machine and backend; entries with one start open. The lines show absolute samples/s, while the gate compares rates
relative to the calibration timed beside them where both runs recorded one: a slower machine is no regression.</p>
{blocks}"""


def _history_block(name: str, charts: tuple[Chart, ...]) -> str:
    flagged = sum(chart.flagged for chart in charts)
    note = f' · <span class="flagged">{flagged} regression{"s" * (flagged != 1)} flagged</span>' if flagged else ""
    if not any(chart.points for chart in charts):
        note = ' · <span class="muted">no stored runs</span>'
    figures = "".join(history_charts.figure(chart) for chart in charts)
    return (f'<details class="history" id="history-{html.escape(name)}" data-model="{html.escape(name)}"'
            f'{" open" if flagged else ""}><summary>{html.escape(name)}{note}</summary>'
            f'<div class="charts">{figures}</div></details>')


def write_leaderboard(out: Path, benchmarks_folder: Path = DEFAULT_BENCHMARKS) -> Path:
    """Write ``<out>/index.html`` (atomically) for every finished run under ``out``."""
    out = Path(out)
    dest = out / INDEX
    from zoo import backends

    tables = backends.html_tables(backends.compare(backends.read_rates(benchmarks_folder)))
    from zoo.folder_lock import locked

    with locked(out):  # a writer's staging and temporary files are its own until it lets go
        reports = collect(out)
        history = history_data.gather([r["model"] for r in reports], out, benchmarks_folder, _thresholds(),
                                      lambda metric: METRIC_NAMES.get(metric, metric))
        files.write_text(dest, render(reports, out, latest_benchmarks(benchmarks_folder), backend_tables=tables,
                                      history=history))
    return dest


def _thresholds() -> dict[str, float]:
    """The gate's per-case threshold overrides from pyproject.toml (none, with a warning, when unreadable)."""
    try:
        return bench_compare.load_thresholds(bench_compare.default_config())
    except bench_compare.CompareError as exc:
        warnings.warn(ZooWarning(f"{exc}; the leaderboard's history marks regressions by the default thresholds"),
                      stacklevel=3)
        return {}


def _row(report: dict[str, Any], out: Path, speed: Throughput | None, history: bool = False) -> str:
    measured, reference, training = report["measured"], report.get("reference") or {}, report.get("training") or {}
    metric, value = measured["metric"], _number(measured["value"])
    ref = _number(reference.get("value")) if reference.get("metric") == metric else None
    name = report["model"]
    folder = out / name
    page = "report.html" if (folder / "report.html").is_file() else "report.md"
    onnx = folder / "model.onnx"
    size = onnx.stat().st_size if onnx.is_file() else None
    speed = speed or Throughput()
    sign = -1 if metric in LOWER_IS_BETTER else 1
    verdict = ""
    if value is not None and ref is not None and value != ref:
        verdict = " better" if sign * (value - ref) > 0 else " worse"
    link = html.escape(f"{name}/{page}")
    cells = [
        f'<td title="{html.escape(report.get("description", ""))}"><a href="{link}">{html.escape(name)}</a></td>',
        _text(report.get("dataset", "")), _text(report.get("task", "")), _text(METRIC_NAMES.get(metric, metric)),
        _numeric(value, format_metric(metric, value), extra=verdict),
        _numeric(ref, format_metric(metric, ref)),
        _seeds_cell(report.get("seeds")),
        _target_cell(report.get("time_to_target"), report.get("seeds")),
        _numeric(_number(training.get("params")), _count(training.get("params"))),
        _numeric(_number(training.get("train_samples_per_sec")), _count(training.get("train_samples_per_sec"))),
        _numeric(speed.train, _count(speed.train), _setting(speed.train_batch, speed.device)),
        _numeric(speed.infer, _count(speed.infer), _setting(speed.infer_batch, speed.device)),
        _numeric(size, _size(size)),
        f'<td><a href="{link}">{html.escape(page)}</a>'
        + (f' · <a href="#history-{html.escape(name)}">history</a>' if history else "") + "</td>",
    ]
    return f'<tr data-model="{html.escape(name)}">' + "".join(cells) + "</tr>"


def _seeds_cell(seeds: dict[str, Any] | None) -> str:
    """The spread over ``zoo run --seeds``, sorted by its median."""
    if not seeds or _number(seeds.get("median")) is None:
        return _numeric(None, MISSING)
    metric = seeds["metric"]
    shown = format_spread(seeds, lambda v: format_metric(metric, v))
    return _numeric(seeds["median"], shown, f"{len(seeds['seeds'])} seeds")


def _target_cell(record: dict[str, Any] | None, seeds: dict[str, Any] | None) -> str:
    """Time to target: the seeds' median (min–max) where there are seeds, else the run's own; "not reached" when
    the run never got there (sorted last)."""
    times = (seeds or {}).get("time_to_target")
    if times:
        if times["median"] is None:
            return _numeric(None, f"not reached ({times['reached']}/{times['of']})")
        return _numeric(times["median"], format_spread(times, format_seconds), f"{times['reached']}/{times['of']} reached")
    if not record or record.get("reached") is None:
        return _numeric(None, MISSING)
    if not record["reached"]:
        return _numeric(None, "not reached")
    return _numeric(record["seconds"], f"{record['seconds']:.1f}")


def _text(text: Any, title: str = "") -> str:
    attribute = f' title="{html.escape(title)}"' if title else ""
    return f"<td{attribute}>{html.escape(str(text))}</td>"


def _numeric(value: float | None, shown: str, note: str = "", extra: str = "") -> str:
    """A right-aligned cell whose ``data-sort`` holds the raw number ('' when missing, sorted last)."""
    sort = "" if value is None else repr(float(value))
    small = f" <small>{html.escape(note)}</small>" if note and value is not None else ""
    return f'<td class="num{extra}" data-sort="{sort}">{html.escape(shown)}{small}</td>'


def _number(value: Any) -> float | None:
    """``value`` as a finite float, or None (for None, text, booleans, NaN)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _better_first(report: dict[str, Any]) -> float:
    """A sort key that puts each dataset's best result first, whichever way its metric improves."""
    value = _number(report["measured"]["value"])
    if value is None:
        return -math.inf
    return -value if report["measured"]["metric"] in LOWER_IS_BETTER else value


def _count(value: Any) -> str:
    number = _number(value)
    return MISSING if number is None else f"{number:,.0f}"


def _size(size: int | None) -> str:
    if size is None:
        return MISSING
    return f"{size / 1e6:.2f} MB" if size >= 1e6 else f"{size / 1e3:.1f} kB"


def _setting(batch: int | None, device: str | None) -> str:
    return " · ".join(x for x in (f"batch {batch}" if batch else "", device or "") if x)


def _created(data: dict[str, Any], path: Path) -> str:
    """The benchmark run's date: pytest-benchmark's ``datetime`` field, else the file's modification time."""
    return run_date(data.get("datetime"), path).isoformat(timespec="seconds")
