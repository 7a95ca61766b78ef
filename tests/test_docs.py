"""The documentation site and every example in it: built strictly, examples run, generated tables current,
every page loaded in a real browser.

- ``mkdocs build --strict`` succeeds (once per module, into a temporary folder);
- every ```python block of ``docs/*.md`` and ``README.md`` runs: ``>>>`` blocks as doctests whose output must
  match, others as scripts, a page's blocks in order in one fresh process (opt-outs: ``# docs: not run (WHY)``
  as a block's first line, each listed in OPT_OUTS);
- every ```console block's commands run and print what the block shows (whitespace normalised);
- the tables the MkDocs hook generates are what the files give now, and follow a changed file;
- headless Chromium loads every built page over a localhost server with no console error and no request
  leaving it, and the navigation reaches every page (skipped, saying why, without Chromium).
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest

from chromium import Browser, find_chromium

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs"
README = REPO / "README.md"
PAGES = sorted(DOCS.glob("*.md")) + [README]
sys.path.insert(0, str(DOCS / "hooks"))
import zoo_docs  # noqa: E402  (docs/hooks is not a package)

CHROMIUM = find_chromium()
NO_RUN = re.compile(r"^# docs: not run \((?P<reason>[^)]+)\)$")
# The python blocks that do not run here, by page, with why: keep this short and honest.
OPT_OUTS = {
    "serving.md": "needs a running zoo serve",
    "publishing.md": "needs the zoo-wine plugin installed",
}
# Commands a ```console block may show: read-only ones, on files that ship in the repository.
READ_ONLY = ("zoo list", "zoo info", "zoo predict", "zoo plugins", "zoo datasets", "python examples/onnx_consumer.py")
# Where a plugin example's own modules live, so its blocks import as the installed package would.
EXAMPLE_PATHS = (REPO / "examples" / "zoo-iris-wide", REPO / "examples" / "zoo-wine")
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[^\n]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$",
                   re.MULTILINE | re.DOTALL)


def blocks(path: Path, lang: str) -> list[tuple[int, str]]:
    """(line number, dedented code) of every fenced block of ``lang`` in a Markdown file."""
    text = path.read_text(encoding="utf-8")
    found = []
    for match in FENCE.finditer(text):
        if match["lang"] != lang:
            continue
        indent = len(match["indent"])
        body = "\n".join(line[indent:] for line in match["body"].splitlines())
        found.append((text.count("\n", 0, match.start()) + 1, body + "\n"))
    return found


def _env(tmp_path: Path) -> dict[str, str]:
    """A clean environment: an empty ZOO_HOME and Keras cache, TensorFlow's start-up lines off."""
    env = dict(os.environ, ZOO_HOME=str(tmp_path / "zoo-home"), KERAS_HOME=str(tmp_path / "keras-home"),
               TF_CPP_MIN_LOG_LEVEL="2", NO_MKDOCS_2_WARNING="1")
    env.pop("ZOO_PLUGINS", None)
    return env


# --- the build ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The site, built once with ``mkdocs build --strict``."""
    dest = tmp_path_factory.mktemp("site")
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(dest)], cwd=REPO,
                          env=_env(tmp_path_factory.mktemp("build-env")), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, f"mkdocs build --strict failed:\n{done.stdout}\n{done.stderr}"
    problems = [line for line in done.stderr.splitlines() if re.match(r"(WARNING|ERROR) +- ", line)]  # MkDocs' own
    assert not problems, "\n".join(problems)
    return dest


def built_pages(site: Path) -> set[str]:
    """The path of every page of the site, as a URL path (``/``, ``/cli/``)."""
    pages = set()
    for index in site.rglob("index.html"):
        relative = index.parent.relative_to(site).as_posix()
        if relative.startswith(("search", "assets")):
            continue
        pages.add("/" if relative == "." else f"/{relative}/")
    return pages


def test_the_site_builds_strictly_with_a_page_per_docs_file(site):
    expected = {"/" if p.stem == "index" else f"/{p.stem}/" for p in DOCS.glob("*.md")}
    assert built_pages(site) == expected


def test_every_page_is_in_the_navigation():
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("", lambda loader, suffix, node: None)  # mkdocs.yml's !!python tags, if any
    config = yaml.load((REPO / "mkdocs.yml").read_text(encoding="utf-8"), Loader=Loader)

    def files(nav) -> list[str]:
        out = []
        for item in nav:
            value = next(iter(item.values())) if isinstance(item, dict) else item
            out += files(value) if isinstance(value, list) else [value]
        return out

    assert sorted(files(config["nav"])) == sorted(p.name for p in DOCS.glob("*.md"))


# --- python examples ----------------------------------------------------------------------------------------

RUNNER = r"""
import doctest, json, sys, traceback
blocks = json.load(sys.stdin)
namespace = {"__name__": "__docs__"}
failed = 0
for block in blocks:
    where = f"{block['file']}:{block['line']}"
    if block["code"].lstrip().startswith(">>>"):
        test = doctest.DocTestParser().get_doctest(block["code"], namespace, where, block["file"], block["line"])
        runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
        runner.run(test, clear_globs=False)
        failed += runner.failures
    else:
        try:
            exec(compile(block["code"], where, "exec"), namespace)
        except BaseException:
            print(f"{where}: the block raised", file=sys.stderr)
            traceback.print_exc()
            failed += 1
sys.exit(1 if failed else 0)
"""

PYTHON_PAGES = [p for p in PAGES if blocks(p, "python")]


@pytest.mark.parametrize("page", PYTHON_PAGES, ids=lambda p: p.name)
def test_python_examples_run(page, tmp_path):
    runnable, skipped = [], []
    for line, code in blocks(page, "python"):
        first = code.splitlines()[0].strip()
        if first.startswith("# docs:"):
            marker = NO_RUN.match(first)
            assert marker, f"{page.name}:{line}: write the opt-out as '# docs: not run (REASON)', not {first!r}"
            skipped.append(marker["reason"])
        else:
            runnable.append({"file": str(page.relative_to(REPO)), "line": line, "code": code})
    assert bool(skipped) == (page.name in OPT_OUTS), (
        f"{page.name}: opt-outs {skipped}; every opt-out is listed in OPT_OUTS, and every listed one is used")
    if not runnable:
        return
    env = _env(tmp_path)
    env["PYTHONPATH"] = os.pathsep.join([*map(str, EXAMPLE_PATHS), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run([sys.executable, "-c", RUNNER], input=json.dumps(runnable), cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"{page.name}'s examples failed:\n{done.stdout}\n{done.stderr[-4000:]}"


def test_the_opt_outs_are_few_and_say_why():
    found = {}
    for page in PAGES:
        for line, code in blocks(page, "python"):
            if marker := NO_RUN.match(code.splitlines()[0].strip()):
                found[page.name] = marker["reason"]
    assert found == OPT_OUTS


# --- console examples ---------------------------------------------------------------------------------------

def sessions(page: Path) -> list[tuple[int, str, str]]:
    """(line, command, shown output) of every ``$ `` line of the page's ```console blocks."""
    found = []
    for line, body in blocks(page, "console"):
        command, output, start = None, [], line
        for offset, text in enumerate(body.splitlines(), start=1):
            if text.startswith("$ "):
                if command is not None:
                    found.append((start, command, "\n".join(output)))
                command, output, start = text[2:], [], line + offset
            else:
                assert command is not None, f"{page.name}:{line + offset}: output before any '$ ' command"
                output.append(text)
        if command is not None:
            found.append((start, command, "\n".join(output)))
    return found


CONSOLE = [(page, line, command, output) for page in PAGES for line, command, output in sessions(page)]


def _normalised(text: str) -> str:
    return "\n".join(" ".join(line.split()) for line in text.strip().splitlines() if line.strip())


def _shown_paths(text: str) -> str:
    """Output with the folders that differ between machines written as the docs write them, '…'."""
    import zoo_reference

    reference = str(Path(zoo_reference.__file__).resolve().parent)
    return text.replace(reference, "…/reference").replace(str(REPO), "…")


def test_the_docs_show_console_examples():
    assert {p.name for p, *_ in CONSOLE} >= {"README.md", "index.md", "cli.md", "getting-started.md", "consuming.md"}


@pytest.mark.parametrize("page, line, command, shown", CONSOLE,
                         ids=[f"{p.name}:{line}" for p, line, *_ in CONSOLE])
def test_console_examples_print_what_they_show(page, line, command, shown, tmp_path):
    assert command.startswith(READ_ONLY), (
        f"{page.name}:{line}: '{command}' is not a read-only command; show it in a ```sh block instead")
    argv = shlex.split(command)
    argv = ([sys.executable, "-m", "zoo", *argv[1:]] if argv[0] == "zoo" else [sys.executable, *argv[1:]])
    done = subprocess.run(argv, cwd=REPO, env=_env(tmp_path), capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{page.name}:{line}: {command} failed:\n{done.stderr}"
    assert _normalised(_shown_paths(done.stdout)) == _normalised(shown), (
        f"{page.name}:{line}: '{command}' now prints:\n{done.stdout}")


def test_the_sample_files_are_the_reference_test_vectors():
    sys.path.insert(0, str(DOCS / "samples"))
    try:
        import make_samples
    finally:
        sys.path.remove(str(DOCS / "samples"))
    for name, data in make_samples.samples().items():
        assert (DOCS / "samples" / name).read_bytes() == data, f"docs/samples/{name}: run docs/samples/make_samples.py"


def test_the_readme_keeps_the_ci_test_command():
    command = ('python3.11 -m venv .venv && . .venv/bin/activate && pip install -q -e ".[test]" && '
               "pytest -n 2 --dist loadfile")
    assert f"```sh\n{command}\n```" in README.read_text(encoding="utf-8")
    assert command in (REPO / ".ci" / "run").read_text(encoding="utf-8").splitlines()


def test_the_readme_is_a_landing_page_naming_every_entry():
    text = README.read_text(encoding="utf-8")
    assert len(text.splitlines()) <= 150
    table = text.split("## The entries", 1)[1].split("\n## ", 1)[0]
    assert set(re.findall(r"`([a-z0-9_]+)`", table)) == {p.parent.name for p in (REPO / "reference").glob("*/report.json")}


# --- generated tables -------------------------------------------------------------------------------------------

def _page_text(site: Path, page: str) -> str:
    import html

    text = (site / page / "index.html").read_text(encoding="utf-8")
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", text)).split())


def test_every_marker_is_known_and_used():
    used = {m["kind"] for page in PAGES for m in zoo_docs.MARKER.finditer(page.read_text(encoding="utf-8"))}
    assert used == set(zoo_docs.GENERATORS)


def test_the_results_table_is_the_reports(site):
    table = zoo_docs.results_table()
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    reports = {r["model"]: r for r in zoo_docs.reports()}
    assert [row.split("`")[1] for row in rows] == sorted(reports)
    for row in rows:
        report = reports[row.split("`")[1]]
        value = report["measured"]["value"]
        shown = f"{value:.2%}" if report["measured"]["metric"] == "accuracy" else f"R² {value:.4f}"
        assert shown in row and f"{report['training']['train_samples_per_sec']:,.0f}" in row
    built = _page_text(site, "models")
    for row in rows:  # the built page holds every generated cell
        for cell in row.strip("|").split(" | "):
            assert _page_text_cell(cell) in built, cell


def _page_text_cell(cell: str) -> str:
    return " ".join(cell.replace("`", "").replace("\\|", "|").split())


def test_a_changed_report_changes_the_results_table(tmp_path):
    for source in (REPO / "reference").glob("*/report.json"):
        (tmp_path / source.parent.name).mkdir()
        shutil.copy(source, tmp_path / source.parent.name / "report.json")
    before = zoo_docs.results_table(tmp_path)
    path = tmp_path / "iris_mlp" / "report.json"
    report = json.loads(path.read_text())
    report["measured"]["value"] = 0.5
    report["seeds"] = {"seeds": [0, 1, 2], "rule": "median of 3", "metric": "accuracy", "median": 0.9,
                       "min": 0.8, "max": 0.95, "time_to_target": {"reached": 2, "of": 3, "median": 2.5, "min": 1.25,
                                                                  "max": None}}
    report["time_to_target"] = {"metric": "accuracy", "target": 0.9, "reached": True, "seconds": 1.25, "steps": 300}
    path.write_text(json.dumps(report))
    after = zoo_docs.results_table(tmp_path)
    row = next(line for line in after.splitlines() if line.startswith("| `iris_mlp`"))
    assert row not in before
    assert "50.00%" in row and "90.00% (80.00%–95.00%), seeds 0–2" in row and "Seeds: median of 3." in after
    assert "accuracy ≥ 90.00%: 1.2 s, 300 steps" in row and "2.5 s (1.2–not reached), 2 of 3 reached" in row
    path = tmp_path / "mnist_cnn" / "report.json"
    report = json.loads(path.read_text())
    del report["seeds"], report["time_to_target"]  # a report of an earlier zoo
    path.write_text(json.dumps(report))
    other = next(line for line in zoo_docs.results_table(tmp_path).splitlines() if line.startswith("| `mnist_cnn`"))
    assert other.split(" | ")[3:7] == ["—"] * 4  # no tutorial number, no seeds, no time to target: dashes


def test_the_exports_table_is_the_reports(site):
    table = zoo_docs.exports_table()
    built = _page_text(site, "exports")
    for report in zoo_docs.reports():
        onnx = report["onnx"]
        row = next(line for line in table.splitlines() if line.startswith(f"| `{report['model']}`"))
        assert f"{onnx['bytes']:,}" in row and f"{onnx['validation']['max_abs_diff']:.1e}" in row
        assert _page_text_cell(row.strip("|").split(" | ")[3]) in built


def test_the_benchmark_table_is_the_json_file(site):
    markers = [m["argument"] for m in zoo_docs.MARKER.finditer((DOCS / "benchmarks.md").read_text(encoding="utf-8"))
               if m["kind"] == "bench"]
    assert markers, "benchmarks.md shows no generated benchmark table"
    built = _page_text(site, "benchmarks")
    for file in markers:
        data = json.loads((zoo_docs.RESULTS / file).read_text())
        table = zoo_docs.bench_table(file)
        trains = {b["extra_info"]["model"]: b["extra_info"]["samples_per_sec"] for b in data["benchmarks"]
                  if b["name"].startswith("test_throughput[") and b["extra_info"]["mode"] == "train"
                  and b["extra_info"]["device"] == "cpu"}
        assert trains
        for model, rate in trains.items():
            row = next(line for line in table.splitlines() if line.startswith(f"| {model} |"))
            assert f"{rate:,.0f}" in row
            assert _page_text_cell(row.strip("|").split(" | ")[3]) in built


def test_the_cli_reference_is_the_parser(site):
    from zoo.cli import bench_compare_parser, build_parser

    reference = zoo_docs.cli_reference()
    built = _page_text(site, "cli")
    parser = build_parser()
    commands = next(a for a in parser._actions if a.dest == "command").choices
    for name, command in commands.items():
        assert f"### `zoo {name}`" in reference
        for action in command._actions:
            for option in action.option_strings:
                if option not in ("-h", "--help"):
                    assert option in reference, f"zoo {name} {option} is missing from the CLI reference"
        assert f"[`zoo {name}`](#zoo-{name})" in (DOCS / "cli.md").read_text(encoding="utf-8"), (
            f"cli.md's overview table lacks zoo {name}")
    assert f"### `{bench_compare_parser().prog}`" in reference
    assert "zoo bench compare" in built and "--heartbeat-timeout" in built


def test_an_unknown_marker_stops_the_build():
    with pytest.raises(ValueError, match="unknown docs marker 'zoo:nothing'"):
        zoo_docs.expand("<!-- zoo:nothing -->")


# --- in a browser -------------------------------------------------------------------------------------------

class RecordingBrowser(Browser):
    """A Browser that keeps the page's exceptions, console errors and requests."""

    def __init__(self, *args, **kwargs):
        self.problems: list[str] = []
        self.requests: list[str] = []
        super().__init__(*args, **kwargs)
        for domain in ("Runtime", "Log", "Network"):
            self.send(f"{domain}.enable")

    def _read(self):
        message = super()._read()
        method, params = message.get("method"), message.get("params", {})
        if method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            self.problems.append(f"exception: {details.get('exception', {}).get('description', details.get('text'))}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert", "warning"):
            self.problems.append(f"console.{params['type']}: {[a.get('value') for a in params.get('args', [])]}")
        elif method == "Log.entryAdded" and params["entry"].get("level") in ("error", "warning"):
            self.problems.append(f"log: {params['entry'].get('text')} {params['entry'].get('url', '')}")
        elif method == "Network.requestWillBeSent":
            self.requests.append(params["request"]["url"])
        return message


@pytest.fixture(scope="module")
def served(site):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(site))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium, or point "
                                             "$CHROMIUM at a Chromium or Chrome binary)")
def test_every_page_loads_cleanly_and_the_navigation_reaches_it(site, served):
    pages = built_pages(site)
    origin = urlparse(served)
    seen, queue = set(), ["/"]
    with RecordingBrowser(CHROMIUM, width=1280, height=900) as browser:
        while queue:
            path = queue.pop(0)
            if path in seen:
                continue
            seen.add(path)
            browser.open(served + path)
            assert browser.evaluate("document.querySelector('article h1') !== null"), f"{path}: no heading"
            links = browser.evaluate("Array.from(document.querySelectorAll('nav.md-nav a.md-nav__link[href]'))"
                                     ".map(a => a.href)")
            for link in links:
                url = urlparse(link)
                if (url.scheme, url.netloc) == (origin.scheme, origin.netloc) and url.path not in seen:
                    queue.append(url.path)
            images = browser.evaluate("Array.from(document.images).filter(i => !i.complete || !i.naturalWidth)"
                                      ".map(i => i.src)")
            assert not images, f"{path}: images that did not load: {images}"
        assert not browser.problems, "\n".join(browser.problems)
        outside = [url for url in browser.requests
                   if urlparse(url).netloc != origin.netloc and not url.startswith(("data:", "blob:"))]
        assert not outside, f"the site requested files from elsewhere: {outside}"
    assert seen >= pages, f"the navigation does not reach {sorted(pages - seen)}"
    assert seen - pages <= set(), f"the navigation leads to pages that are not built: {sorted(seen - pages)}"


def test_readmes_speed_table_is_the_committed_peer_run():
    """README's zoo/plain-PyTorch table is what the benchmark file the docs cite says, row for row."""
    from zoo import peer_table

    cited = re.search(r"<!-- zoo:peers (\S+) -->", (DOCS / "benchmarks.md").read_text(encoding="utf-8"))[1]
    data = json.loads((REPO / "benchmarks" / "results" / cited).read_text(encoding="utf-8"))
    table = peer_table.short_markdown([b["extra_info"] for b in data["benchmarks"]])
    assert table in README.read_text(encoding="utf-8")
    rows = [line for line in zoo_docs.peers_table(cited).splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) == table.count("\n| `") + 1  # the docs' table: the same entries, and its header
