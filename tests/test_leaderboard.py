"""The leaderboard page: its rows, the benchmark numbers it picks, escaping, and no network fetches."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from zoo.web import leaderboard
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
    assert row[6] == "407,050" and row[7] == f"{report['training']['train_samples_per_sec']:,.0f}"
    assert row[8] == row[9] == "—"  # no benchmark file
    assert '<a href="mnist_mlp/report.html">report.html</a>' in found["mnist_mlp"]
    onnx = out / "mnist_mlp" / "model.onnx"
    assert row[10] == (leaderboard._size(onnx.stat().st_size) if onnx.is_file() else "—")
    # Sort keys are raw numbers; a missing one is empty (sorted last).
    assert 'data-sort="407050.0"' in found["mnist_mlp"] and 'data-sort=""' in found["mnist_mlp"]


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
    assert row[9] == "123,457 <small>batch 512 · cpu</small>" and row[8] == "—"
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
