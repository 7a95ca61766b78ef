"""The leaderboard page: its rows, the benchmark numbers it picks, escaping, and no network fetches."""

from __future__ import annotations

import datetime
import html
import json
import re
import shutil
from pathlib import Path

import pytest

from stored_runs import MACHINE, RUNS, SLOWED, write_board, write_runs
from zoo import bench_compare
from zoo.run_history import RunHistoryWarning
from zoo.web import history_data, leaderboard
from zoo.cli import main


def rows(page: str) -> dict[str, str]:
    """{model: the row's HTML} of a rendered leaderboard."""
    return dict(re.findall(r'<tr data-model="([^"]+)">(.*?)</tr>', page))


def entries(out: Path) -> set[str]:
    return {p.parent.name for p in out.glob("*/report.json")}


def cells(row: str) -> list[str]:
    return re.findall(r"<td[^>]*>(.*?)</td>", row)


def benchmark_file(path: Path, when: str, entries: list[dict]) -> Path:
    """A file in pytest-benchmark's ``--benchmark-json`` layout."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"machine_info": {"node": "ci-box", "cpu": {"brand_raw": "Test CPU"}},
                                "commit_info": {}, "datetime": when, "version": "5.1.0",
                                "benchmarks": [{"name": f"test[{i}]", "stats": {"mean": 0.01}, **e}
                                               if isinstance(e, dict) else e for i, e in enumerate(entries)]}))
    return path


def test_one_row_per_finished_run(trained_runs, tmp_path):
    out = tmp_path / "exports"
    shutil.copytree(trained_runs, out)
    (out / ".fn_square.abc.tmp").mkdir()  # a staging folder: not an entry
    (out / "empty").mkdir()  # no report: not an entry
    page = leaderboard.render(leaderboard.collect(out), out)
    found = rows(page)
    assert set(found) == entries(trained_runs)
    report = json.loads((out / "mnist_mlp" / "report.json").read_text())
    row = cells(found["mnist_mlp"])
    assert [re.sub("<[^>]+>", "", c) for c in row[:4]] == ["mnist_mlp", "mnist", "classification", "accuracy"]
    assert row[4] == f"{report['metrics']['accuracy']:.2%}" and row[5] == "97.88%"
    timed = report["time_to_target"]  # timed to the tutorial's 97.88%
    assert row[6] == "—" and row[7] == (f"{timed['seconds']:.1f}" if timed["reached"] else "not reached")  # one seed
    assert row[8] == "407,050" and row[9] == f"{report['training']['train_samples_per_sec']:,.0f}"
    assert row[10] == row[11] == "—"  # no benchmark file
    assert '<a href="mnist_mlp/report.html">report.html</a>' in found["mnist_mlp"]
    onnx = out / "mnist_mlp" / "model.onnx"
    assert row[12] == (leaderboard._size(onnx.stat().st_size) if onnx.is_file() else "—")
    # Sort keys are raw numbers; a missing one is empty (sorted last).
    assert 'data-sort="407050.0"' in found["mnist_mlp"] and 'data-sort=""' in found["mnist_mlp"]


def test_the_seed_spread_and_time_to_target_columns():
    from zoo.seeds import summarize

    def seed(value, seconds):
        return {"measured": {"metric": "accuracy", "value": value}, "training": {"train_samples_per_sec": 1.0},
                "time_to_target": {"target": 0.9, "reached": seconds is not None, "seconds": seconds, "steps": 1}}

    spread = summarize({0: seed(0.95, 2.0), 1: seed(0.91, 4.5), 2: seed(0.85, None)}, (0, 1, 2), 2)
    cell = leaderboard._seeds_cell(spread)
    assert 'data-sort="0.91"' in cell and "91.00% (85.00%–95.00%)" in cell and "3 seeds" in cell
    cell = leaderboard._target_cell({"reached": True, "seconds": 2.0}, spread)
    assert 'data-sort="4.5"' in cell and "4.5 (2.0–not reached)" in cell and "2/3 reached" in cell
    assert 'data-sort=""' in leaderboard._target_cell({"reached": False}, None)
    assert "not reached (0/1)" in leaderboard._target_cell(None, summarize({0: seed(0.5, None)}, (0,), 1))


def test_the_newest_fullest_benchmark_file_gives_throughput(tmp_path):
    folder = tmp_path / "benchmarks" / "results"
    benchmark_file(folder / "old.json", "2026-01-01T00:00:00", [
        {"extra_info": {"model": "iris_mlp", "infer_samples_per_sec": 1.0, "batch_size": 1}}])
    benchmark_file(folder / "sub" / "new.json", "2026-11-01T10:00:00.123456", [
        {"extra_info": {"model": "iris_mlp", "mode": "infer", "infer_samples_per_sec": 5000.0, "batch_size": 1,
                        "device": "cpu", "backend": "tensorflow"}},
        {"extra_info": {"model": "iris_mlp", "mode": "infer", "infer_samples_per_sec": 90000.0, "batch_size": 256,
                        "device": "cpu"}},
        {"extra_info": {"model": "iris_mlp", "mode": "train", "train_samples_per_sec": 12000.5, "batch_size": 32}},
        # Only timings: batch size / mean seconds.
        {"extra_info": {"model": "mnist_mlp", "mode": "infer", "batch_size": 100}, "stats": {"mean": 0.02}},
        {"extra_info": {"model": "fn_sin", "infer_samples_per_sec": "fast"}},  # malformed: skipped
        "not a benchmark",
    ])
    # A newer rerun of a few cases does not hide the fuller run.
    benchmark_file(folder / "rerun.json", "2026-11-02T00:00:00", [
        {"extra_info": {"model": "iris_mlp", "mode": "train", "train_samples_per_sec": 1.0, "batch_size": 32}}])
    (folder / "broken.json").write_text("{not json")
    (folder / "other.json").write_text(json.dumps({"something": "else"}))
    found = leaderboard.latest_benchmarks(folder)
    assert found.path.name == "new.json" and found.created == "2026-11-01T10:00:00+00:00"
    assert found.machine == "Test CPU, ci-box"
    assert found.models["iris_mlp"] == leaderboard.Throughput(90000.0, 12000.5, 256, 32, "cpu")
    assert found.models["mnist_mlp"].infer == pytest.approx(5000.0)
    assert "fn_sin" not in found.models
    assert leaderboard.latest_benchmarks(tmp_path / "nowhere") is None


def test_benchmark_numbers_in_the_table(trained_runs, tmp_path):
    folder = tmp_path / "results"
    benchmark_file(folder / "run.json", "2026-11-23T12:00:00", [
        {"extra_info": {"model": "iris_mlp", "infer_samples_per_sec": 123456.7, "batch_size": 512, "device": "cpu"}}])
    page = leaderboard.render(leaderboard.collect(trained_runs), trained_runs, leaderboard.latest_benchmarks(folder))
    row = cells(rows(page)["iris_mlp"])
    assert row[11] == "123,457 <small>batch 512 · cpu</small>" and row[10] == "—"
    assert "run.json" in page and "2026-11-23T12:00:00+00:00" in page


def test_text_is_escaped_and_nothing_is_fetched(trained_runs, tmp_path):
    out = tmp_path / "exports"
    shutil.copytree(trained_runs / "iris_mlp", out / "iris_mlp")
    path = out / "iris_mlp" / "report.json"
    report = json.loads(path.read_text())
    report["description"] = '<script>alert("x")</script> & "quotes"'
    report["dataset"] = "<b>iris</b>"
    path.write_text(json.dumps(report))
    page = leaderboard.render(leaderboard.collect(out), out)
    assert "<script>alert" not in page and "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp;" in page
    assert "<b>iris</b>" not in page and "&lt;b&gt;iris&lt;/b&gt;" in page
    assert_self_contained(page)


def assert_self_contained(page: str) -> None:
    """No src, href, CSS url() or import that points anywhere but at a relative file."""
    targets = re.findall(r'(?:src|href)\s*=\s*"([^"]*)"', page) + re.findall(r"url\(([^)]*)\)", page)
    assert all(not re.match(r"^\s*(?:[a-z][a-z0-9+.-]*:|//)", t, flags=re.I) for t in targets), targets
    assert "@import" not in page and "<link" not in page
    assert "default-src 'none'" in page  # and the browser is told to refuse any fetch anyway


def test_report_pages_are_self_contained(trained_runs):
    for name in entries(trained_runs):
        page = (trained_runs / name / "report.html").read_text()
        # The tutorial's URL is a link to follow, not something the page loads.
        assert not re.findall(r'src\s*=\s*"(?:[a-z]+:|//)', page)
        assert all(href.startswith("https://") or not re.match("[a-z]+:", href)
                   for href in re.findall(r'href="([^"]+)"', page))


def test_zoo_report_writes_the_index(trained_runs, tmp_path, capsys, monkeypatch):
    out = tmp_path / "exports"
    shutil.copytree(trained_runs, out)
    monkeypatch.chdir(tmp_path)  # the default benchmarks folder is relative: none here
    assert main(["report", "--out", str(out)]) == 0
    assert capsys.readouterr().out.strip() == str(out / "index.html")
    page = (out / "index.html").read_text()
    assert set(rows(page)) == entries(trained_runs)
    assert_self_contained(page)
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_an_empty_folder_gives_an_empty_board(tmp_path):
    page = leaderboard.render([], tmp_path)
    assert rows(page) == {} and "0 entries" in page


def test_markdown_subset():
    from zoo.web.webpage import markdown_to_html

    html = markdown_to_html("# t <x>\n\nA **b** `c<d>` https://e.org/f.\n\n| a | b |\n|---|---|\n| 1 | x |\n\n"
                            "![curves](plots/c.png)\n\n- `k`: v\n")
    assert '<h1 id="t-x">t &lt;x&gt;</h1>' in html
    assert '<strong>b</strong> <code>c&lt;d&gt;</code> <a href="https://e.org/f">https://e.org/f</a>.' in html
    assert "<thead><tr><th>a</th><th>b</th></tr></thead>" in html and '<td class="num">1</td><td>x</td>' in html
    assert '<img src="plots/c.png" alt="curves"' in html and "<li><code>k</code>: v</li>" in html


# History charts: every stored benchmark run and zoo run, the gate's regressions marked.

def history(page: str) -> dict[str, tuple[str, str]]:
    """{model: (the <details> tag's attributes, its HTML)} of the history section."""
    return {name: (attrs, body) for name, attrs, body in re.findall(
        r'<details class="history" id="history-[^"]+" data-model="([^"]+)"([^>]*)>(.*?)</details>', page, re.S)}


def charts(block: str) -> dict[str, str]:
    """{data-chart: the figure's HTML} of an entry's history block."""
    return dict(re.findall(r'<figure class="history-chart" data-chart="([^"]+)"[^>]*>(.*?)</figure>', block, re.S))


def points(chart: str) -> list[dict]:
    """Each point of a chart: whether flagged, its date, value, verdict and tooltip (unescaped)."""
    found = re.findall(r'<g class="point( flagged)?" data-when="([^"]+)" data-value="([^"]+)"(?: data-flag="([^"]*)")?>'
                       r"<title>([^<]*)</title>", chart)
    return [{"flagged": bool(f), "when": w, "value": float(v), "flag": html.unescape(g), "tip": html.unescape(t)}
            for f, w, v, g, t in found]


def test_history_charts_draw_every_stored_run_and_mark_the_regression(tmp_path, monkeypatch):
    out, folder = write_board(tmp_path / "exports"), write_runs(tmp_path / "results")
    monkeypatch.chdir(tmp_path)  # pyproject thresholds: the checkout's (it overrides none)
    with pytest.warns(RunHistoryWarning, match="history.jsonl:4: skipped"):
        page = leaderboard.write_leaderboard(out, folder).read_text()
    blocks = history(page)
    assert list(blocks) == ["fn_sin", "iris_mlp", "mnist_mlp"]  # the table's order
    counts = {name: {kind: len(points(chart)) for kind, chart in charts(body).items()}
              for name, (_, body) in blocks.items()}
    assert counts == {"iris_mlp": {"train": 5, "infer-jax": 2, "infer-tensorflow": 8, "metric": 3},
                      "fn_sin": {"train": 5, "infer-jax": 1, "infer-tensorflow": 4, "metric": 2},
                      "mnist_mlp": {"train": 0, "infer": 0, "metric": 0}}
    everywhere = [p for _, body in blocks.values() for chart in charts(body).values() for p in points(chart)]
    flagged = [p for p in everywhere if p["flagged"]]
    assert len(flagged) == 1 and flagged[0] in points(charts(blocks["iris_mlp"][1])["train"])
    assert flagged[0]["when"] == "2026-11-03T12:00:00+00:00" and flagged[0]["value"] == 500.0
    assert flagged[0]["flag"] in flagged[0]["tip"]
    for text in (SLOWED, "(-47.4%)", "(30% slowdown)", "against run 0002_b.json of 2026-11-02 12:00 UTC"):
        assert text in flagged[0]["flag"]
    # Only iris_mlp, with its regression, starts open; each row links to its entry's history.
    assert [name for name, (attrs, _) in blocks.items() if " open" in attrs] == ["iris_mlp"]
    assert '<a href="#history-fn_sin">history</a>' in rows(page)["fn_sin"]
    assert_self_contained(page)


def test_the_flagged_runs_are_the_gates(tmp_path):
    """The gate itself, run on each pair of consecutive tensorflow runs, flags exactly the slowed case once."""
    folder = write_runs(tmp_path / "results")
    runs = [bench_compare.load_run(p) for p in sorted(folder.rglob("*.json"))]
    tensorflow = [r for r in runs if {c["backend"] for c in r.cases.values()} == {"tensorflow"}]
    flagged = [(new.path.name, c.case) for old, new in zip(tensorflow, tensorflow[1:])
               for c in bench_compare.compare(old, new).regressions]
    assert flagged == [("0003_c.json", SLOWED)]
    cases = history_data.judged_cases(history_data.stored_runs(folder), {})
    assert [(c.run.path.name, c.name) for c in cases if c.regression] == flagged
    # A looser threshold from pyproject's [tool.zoo.bench.thresholds] flags nothing.
    assert not [c for c in history_data.judged_cases(history_data.stored_runs(folder), {SLOWED: 0.5})
                if c.regression]


def test_history_tooltips_name_date_commit_machine_and_backend(tmp_path):
    out, folder = write_board(tmp_path / "exports"), write_runs(tmp_path / "results")
    with pytest.warns(RunHistoryWarning):
        found = history_data.gather(["iris_mlp"], out, folder, {}, lambda m: {"r2": "R²"}.get(m, m))["iris_mlp"]
    page = leaderboard.render(leaderboard.collect(out), out, history={"iris_mlp": found})
    train, *_, metric = charts(history(page)["iris_mlp"][1]).values()
    by_date = {f"{when[:10]} 12:00 UTC": (commit, backend) for _, when, commit, backend, _, _ in RUNS}
    for point in points(train):
        date = next(d for d in by_date if point["tip"].startswith(d))
        commit, backend = by_date[date]
        assert f"commit {commit[:7]} · {MACHINE} · backend {backend}" in point["tip"]
        assert f"{point['value']:,.0f} samples/s" in point["tip"]
    ordered = sorted(points(metric), key=lambda p: p["when"])
    assert [p["value"] for p in ordered] == [0.95, 0.97, 0.9]
    assert ordered[1]["tip"].splitlines() == [
        "2026-11-03 13:00 UTC · accuracy 97.00%",
        "commit 3333333 · AMD EPYC (2 cores), ci-box · backend tensorflow · seed 0",
        "training 3,000 samples/s", "time to target 2.5 s"]
    assert "backend jax" in ordered[2]["tip"]
    assert "training samples/s" in train and "run date (UTC)" in train and "accuracy (test split)" in metric


def test_chart_scales_and_escaping():
    from zoo.web.history_charts import Chart, Point, Series, figure, value_scale

    assert value_scale([100.0, 10000.0]).step == 0 and value_scale([100.0, 10000.0]).ticks() == [100, 1000, 10000]
    linear = value_scale([0.95, 0.97])
    assert linear.step == pytest.approx(0.005) and linear.low <= 0.95 and linear.high >= 0.97
    when = datetime.datetime(2026, 11, 1, tzinfo=datetime.timezone.utc)
    chart = Chart("train", "t <i>", "y & z", (Series("<b>", (Point(when, 1.0, '"<script>', "<flag>"),)),))
    drawn = figure(chart)
    assert "<script>" not in drawn and "<b>" not in drawn and "<i>" not in drawn and "<flag>" not in drawn
    assert 'data-points="1" data-flagged="1"' in drawn and "&lt;flag&gt;" in drawn
    assert 'data-points="0"' in figure(Chart("infer", "none", "samples/s", ()))
