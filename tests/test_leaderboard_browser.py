"""The leaderboard and report pages in a real browser: headless Chromium renders them, we click, we look.

Skipped, with the reason, where Chromium is not installed (`.ci/run` installs Debian's `chromium`).
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
import time
from pathlib import Path

import pytest

from chromium import Browser, find_chromium
from pngs import assert_png
from stored_runs import write_board, write_runs
from zoo.run_history import RunHistoryWarning
from zoo.web.leaderboard import write_leaderboard

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium, "
                                                          "or point $CHROMIUM at a Chromium or Chrome binary)")

ROWS = "Array.from(document.querySelectorAll('#leaderboard tbody tr'))"


class RecordingBrowser(Browser):
    """A Browser that keeps the page's console messages, uncaught exceptions and log entries (a refused fetch,
    a CSP violation) in ``events``."""

    WATCHED = ("Runtime.consoleAPICalled", "Runtime.exceptionThrown", "Log.entryAdded")

    def __init__(self, *args, **kwargs):
        self.events: list[dict] = []
        super().__init__(*args, **kwargs)
        self.send("Runtime.enable")
        self.send("Log.enable")

    def _read(self) -> dict:
        message = super()._read()
        if message.get("method") in self.WATCHED:
            self.events.append(message)
        return message

    def errors(self) -> list[dict]:
        """The error-level console messages, log entries and uncaught exceptions seen so far."""
        return [e for e in self.events if e["method"] == "Runtime.exceptionThrown"
                or e["params"].get("type") == "error" or e["params"].get("entry", {}).get("level") == "error"]


@pytest.fixture(scope="module")
def browser():
    with RecordingBrowser(CHROMIUM, width=1360, height=900) as running:
        yield running


@pytest.fixture
def board(trained_runs, tmp_path) -> Path:
    """A copy of the trained runs with their leaderboard written."""
    out = tmp_path / "exports"
    shutil.copytree(trained_runs, out)
    write_leaderboard(out, tmp_path / "no-benchmarks")
    return out


def click(browser: Browser, selector: str) -> None:
    """A real mouse click (pressed and released) in the middle of the element."""
    box = browser.evaluate(f"(() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect(); "
                           "return [r.x + r.width / 2, r.y + r.height / 2]; })()")
    for kind in ("mousePressed", "mouseReleased"):
        browser.send("Input.dispatchMouseEvent", {"type": kind, "x": box[0], "y": box[1], "button": "left",
                                                  "clickCount": 1})


def soon(check, seconds: float = 5.0) -> bool:
    """Whether ``check()`` comes true within ``seconds`` (an event handler runs after the click returns)."""
    deadline = time.monotonic() + seconds
    while not (found := check()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(found)


def column(browser: Browser, index: int) -> list[str]:
    """The ``data-sort`` value (or text) of column ``index`` in every row, top to bottom."""
    return browser.evaluate(f"{ROWS}.map(r => r.cells[{index}].dataset.sort ?? r.cells[{index}].textContent.trim())")


def heading(label: str) -> str:
    return f"#leaderboard thead th:nth-child({LABELS.index(label) + 1})"


LABELS = ["model", "dataset", "task", "metric", "zoo", "tutorial", "seeds", "to target s", "parameters", "train samples/s",
          "bench train samples/s", "bench infer samples/s", "ONNX size", "report"]


def test_leaderboard_renders_and_sorts(browser, board, tmp_path):
    browser.open(board.joinpath("index.html").as_uri())
    shot = browser.screenshot(tmp_path / "leaderboard.png")
    assert assert_png(shot) == (1360, 900)
    names = sorted(p.parent.name for p in board.glob("*/report.json"))
    assert sorted(browser.evaluate(f"{ROWS}.map(r => r.dataset.model)")) == names
    assert browser.evaluate("Array.from(document.querySelectorAll('#leaderboard thead th'))"
                            ".map(th => th.textContent.trim())") == LABELS
    # The table is laid out: every row is drawn with a height, inside the page.
    assert all(h > 10 for h in browser.evaluate(f"{ROWS}.map(r => r.getBoundingClientRect().height)"))

    params = LABELS.index("parameters")
    click(browser, heading("parameters"))  # numbers: largest first
    values = [float(v) for v in column(browser, params)]
    assert values == sorted(values, reverse=True) and len(set(values)) > 2
    assert browser.evaluate(f"document.querySelector({heading('parameters')!r}).getAttribute('aria-sort')") \
        == "descending"
    click(browser, heading("parameters"))  # again: reversed
    assert [float(v) for v in column(browser, params)] == sorted(values)
    click(browser, heading("model"))  # text: A to Z
    assert column(browser, 0) == names
    click(browser, heading("zoo"))  # mixed metrics still sort as numbers
    values = [float(v) for v in column(browser, LABELS.index("zoo"))]
    assert values == sorted(values, reverse=True)
    # Missing numbers stay last whichever way the column sorts.
    for _ in range(2):
        click(browser, heading("tutorial"))
        tutorial = column(browser, LABELS.index("tutorial"))
        present = [v for v in tutorial if v]
        assert tutorial == present + [""] * (len(tutorial) - len(present)) and present
    assert_png(browser.screenshot(tmp_path / "sorted.png"))


def test_report_page_shows_its_plots_over_http(browser, board, tmp_path):
    """Served from localhost: the board's link opens the report, and every plot in it loads."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(board))
    handler.log_message = lambda *args: None
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        try:
            base = f"http://127.0.0.1:{server.server_address[1]}/"
            browser.open(base + "index.html")
            assert browser.evaluate(f"{ROWS}.length") == len(list(board.glob("*/report.json")))
            href = browser.evaluate("document.querySelector('tr[data-model=mnist_mlp] a').href")
            assert href == base + "mnist_mlp/report.html"
            browser.open(href)
            images = browser.evaluate("Array.from(document.images).map(i => [i.getAttribute('src'), "
                                      "i.complete && i.naturalWidth > 0])")
            assert images and all(loaded for _, loaded in images), images
            assert {src for src, _ in images} >= {"plots/training_curves.png", "plots/first_layer_weights.png"}
            assert_png(browser.screenshot(tmp_path / "report.png", full_page=True))
        finally:
            server.shutdown()


def test_report_page_from_a_file_loads_its_plots(browser, board):
    browser.open((board / "fn_square" / "report.html").as_uri())
    images = browser.evaluate("Array.from(document.images).map(i => i.complete && i.naturalWidth > 0)")
    assert images == [True, True, True]


def test_committed_leaderboard_has_a_row_per_entry(browser, tmp_path):
    """After `zoo run --all`: exports/index.html shows one row per entry in exports/."""
    names = sorted(p.parent.name for p in (REPO / "reference").glob("*/report.json")
                   if not p.parent.name.startswith("."))
    if not names:
        pytest.skip("exports/ has no runs yet (zoo run --all writes them)")
    index = REPO / "reference" / "index.html"
    assert index.is_file(), "exports/index.html is missing: run 'zoo report'"
    browser.open(index.as_uri())
    assert sorted(browser.evaluate(f"{ROWS}.map(r => r.dataset.model)")) == names
    assert_png(browser.screenshot(tmp_path / "committed.png"))


def test_history_charts_show_every_entry_and_the_flagged_run(browser, tmp_path):
    """From a file URL: each entry has its charts, drawn; the flagged run's red ring is on screen, its entry open;
    a closed entry opens on a click; and the page logs no error."""
    out = write_board(tmp_path / "exports")
    with pytest.warns(RunHistoryWarning):
        write_leaderboard(out, write_runs(tmp_path / "results"))
    browser.events.clear()
    browser.open((out / "index.html").as_uri())
    charts = browser.evaluate("Array.from(document.querySelectorAll('details.history')).map(d => [d.dataset.model, "
                              "d.open, Array.from(d.querySelectorAll('figure')).map(f => [f.dataset.chart, "
                              "f.querySelectorAll('svg .point').length])])")
    assert charts == [["fn_sin", False, [["train", 5], ["infer-jax", 1], ["infer-tensorflow", 4], ["metric", 2]]],
                      ["iris_mlp", True, [["train", 5], ["infer-jax", 2], ["infer-tensorflow", 8], ["metric", 3]]],
                      ["mnist_mlp", False, [["train", 0], ["infer", 0], ["metric", 0]]]]
    assert browser.evaluate("document.querySelectorAll('.point.flagged').length") == 1
    browser.evaluate("document.querySelector('.point.flagged').scrollIntoView({block: 'center'})")
    ring = browser.evaluate("(() => { const r = document.querySelector('.point.flagged .ring').getBoundingClientRect();"
                            " return [r.x + r.width / 2, r.y + r.height / 2, r.width]; })()")
    assert ring[2] > 10  # drawn at its size, not collapsed
    # What is on screen at the ring's centre is the flagged point itself (ring or dot), inside iris_mlp's chart.
    assert browser.evaluate(f"(() => {{ const e = document.elementFromPoint({ring[0]}, {ring[1]}); "
                            "return [e.closest('.point').classList.contains('flagged'), "
                            "e.closest('details').dataset.model, e.closest('figure').dataset.chart]; })()") \
        == [True, "iris_mlp", "train"]
    tooltip = browser.evaluate("document.querySelector('.point.flagged title').textContent")
    assert "run 0003_c.json" in tooltip and "commit 3333333" in tooltip and "(-47.4%)" in tooltip
    assert_png(browser.screenshot(tmp_path / "history.png"))
    assert browser.evaluate("document.querySelector('.point.flagged .ring').checkVisibility()")
    # A closed entry's charts are hidden until its summary is clicked.
    closed = "details[data-model=fn_sin] svg"
    assert not browser.evaluate(f"document.querySelector({closed!r}).checkVisibility()")
    browser.evaluate("document.querySelector('details[data-model=fn_sin]').scrollIntoView()")
    click(browser, "details[data-model=fn_sin] summary")
    assert browser.evaluate(f"document.querySelector({closed!r}).checkVisibility()")
    # So is one whose row's "history" link is followed.
    link = "tr[data-model=mnist_mlp] a[href='#history-mnist_mlp']"
    browser.evaluate(f"document.querySelector({link!r}).scrollIntoView()")  # the table can be wider than the window
    click(browser, link)
    assert soon(lambda: browser.evaluate("document.querySelector('details[data-model=mnist_mlp]').open"))
    assert browser.errors() == []
    browser.evaluate("console.error('probe')")  # and errors would be seen
    assert [e["params"]["args"][0]["value"] for e in browser.errors()] == ["probe"]
