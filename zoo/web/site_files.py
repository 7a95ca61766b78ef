"""What ``zoo serve`` serves and where each file comes from: the page, onnxruntime-web, every entry's export.

- The page (HTML, CSS, JavaScript modules) is package data in ``zoo/web/playground/``.
- onnxruntime-web comes from the npm registry: ``npm ci --prefix web`` installs the version
  pinned in ``web/package-lock.json`` into ``web/node_modules/``; a zoo installed from a wheel
  fetches the same tarball once into its cache (``zoo.web.ort_web``); ``$ZOO_ORT_DIR`` points at
  another folder holding the same files. Only the two files of its WebAssembly build that
  the page loads are served (``ORT_FILES``).
- Each entry's export folder comes from ``export_folders``: the user's run when it has an
  ONNX export, else the results its plugin ships (zoo's reference set for the built-ins). Only the files in ``ENTRY_FILES`` (and report
  figures) are served from it, never anything else in the folder. The page runs an entry's end-to-end file
  (``END_TO_END_FILE``: raw samples in, probabilities or values out) where it has one, else ``model.onnx``
  with the preprocessing done in JavaScript (exports from before the end-to-end file); ``entry_index`` says which.

Light on purpose: no numpy, no onnx, no Keras.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path
from typing import Any

from zoo import locations
from zoo.errors import ZooError
from zoo.exports.manifest import END_TO_END_FILE, END_TO_END_TEST_DATA_SET
from zoo.web.ort_web import ORT_DIST, ORT_FILES, ORT_VERSION, cache_folder, fetch_ort_web, has_files

PACKAGE = Path(__file__).resolve().parent
PAGE_DIR = PACKAGE / "playground"
REPO = PACKAGE.parent.parent  # zoo/web -> the source tree (web/node_modules in a checkout)
ORT_ENV = "ZOO_ORT_DIR"
ONNX_FILE = "model.onnx"
TEST_INPUT = "test_data_set_0/input_0.pb"
TEST_OUTPUT = "test_data_set_0/output_0.pb"
END_TO_END_INPUT = f"{END_TO_END_TEST_DATA_SET}/input_0.pb"  # raw samples, of the raw dtype
END_TO_END_OUTPUT = f"{END_TO_END_TEST_DATA_SET}/output_0.pb"  # their probabilities or values
ENTRY_FILES = (ONNX_FILE, TEST_INPUT, TEST_OUTPUT, END_TO_END_FILE, END_TO_END_INPUT, END_TO_END_OUTPUT,
               "report.json", "report.html")
PLOT = re.compile(r"plots/[A-Za-z0-9_-][A-Za-z0-9_.-]*\.png")
PAGE_FILE = re.compile(r"[a-z0-9_-]+\.(?:html|js|css)")


class ServeError(ZooError):
    """``zoo serve`` cannot start or cannot find what it serves."""


def export_folders(out: Path | None, reference: Path | None = None) -> dict[str, Path]:
    """Each entry's export folder by name: ``out/NAME`` when it has a model.onnx, else its shipped results'.

    The one place that decides where an entry comes from (dot-folders, i.e. staging, left out). The shipped
    results are every plugin's reference set, zoo's own included, each entry checked against its set's
    manifest; a ``reference`` folder given stands in for them all.
    """
    if reference is not None:
        folders = _onnx_folders(Path(reference))
    else:
        folders = {name: folder for name, folder in shipped_folders().items() if (folder / ONNX_FILE).is_file()}
    if out is not None:
        folders.update(_onnx_folders(Path(out)))  # the user's runs last, so they win
    return dict(sorted(folders.items()))


def _onnx_folders(root: Path) -> dict[str, Path]:
    if not root.is_dir():
        return {}
    return {p.parent.name: p.parent for p in root.glob(f"*/{ONNX_FILE}") if not p.parent.name.startswith(".")}


def shipped_folders() -> dict[str, Path]:
    """The folder of every entry's checked shipped results (``zoo.reference_sets``)."""
    from zoo.plugins import load_registry
    from zoo.reference_sets import shipped_entries

    return shipped_entries(load_registry())


def ort_folder(fetch: bool = True) -> Path:
    """The folder holding ``ORT_FILES``: ``$ZOO_ORT_DIR``; else what ``npm ci --prefix web`` installed in zoo's
    source folder; else the copy in ``$ZOO_HOME/web``, fetched there now (with ``fetch``) if it is missing."""
    if os.environ.get(ORT_ENV):
        candidates = [Path(os.environ[ORT_ENV])]
    else:
        candidates = [REPO / "web" / ORT_DIST, cache_folder()]
    for folder in candidates:
        if has_files(folder):
            return folder
    if fetch and not os.environ.get(ORT_ENV):
        print(f"zoo: fetching onnxruntime-web {ORT_VERSION} (the playground's runtime) once, into {cache_folder()}",
              file=sys.stderr, flush=True)
        return fetch_ort_web(cache_folder())
    raise ServeError(f"onnxruntime-web is not installed ({candidates[0] / ORT_FILES[0]} is missing); in zoo's "
                     f"source folder run 'npm ci --prefix web --ignore-scripts', or anywhere run 'npm install "
                     f"--prefix {locations.zoo_home() / 'web'} onnxruntime-web@{ORT_VERSION}', or set {ORT_ENV} "
                     f"to a folder holding {' and '.join(ORT_FILES)}")


def page_file(name: str) -> Path | None:
    """One of the page's own files (``index.html``, ``main.js``, ...), or None."""
    path = PAGE_DIR / name
    return path if PAGE_FILE.fullmatch(name) and path.is_file() else None


def entry_file(folders: dict[str, Path], name: str, relative: str) -> Path | None:
    """A servable file of entry ``name``'s export folder, or None (unknown entry, file or name)."""
    folder = folders.get(name)
    if folder is None or not (relative in ENTRY_FILES or PLOT.fullmatch(relative)):
        return None
    return regular_file(folder, relative)


def regular_file(folder: Path, relative: str) -> Path | None:
    """``folder / relative`` when it is a regular file reached with no symbolic link from ``folder``'s parent
    down (the runs folder itself may be a link; an entry folder, sub-folder or file that is one is refused,
    so nothing outside the entry's folder is ever served), else None."""
    path = folder / relative
    try:
        real = os.path.realpath(path, strict=True)
    except OSError:  # missing, or a loop of links
        return None
    if real != os.path.join(os.path.realpath(folder.parent), folder.name, relative):
        return None
    return path if path.is_file() else None


def from_runs(folder: Path, out: Path | None, reference: Path | None = None) -> bool:
    """Whether an entry's folder (from ``export_folders``) is the user's own run rather than shipped results."""
    shipped = {Path(reference).resolve()} if reference is not None else \
        {f.parent.resolve() for f in shipped_folders().values()}
    parent = folder.parent.resolve()
    return out is not None and parent == Path(out).resolve() and parent not in shipped


def entry_index(folders: dict[str, Path], out: Path | None, reference: Path | None = None) -> dict[str, Any]:
    """The JSON the page starts from: every entry, where it comes from, and the URLs of its files.

    ``model`` is the file the page runs: ``END_TO_END_FILE`` (``end_to_end`` true) where the folder has it as a
    regular file, else ``model.onnx``; ``test_input`` and ``test_output`` are that file's test vectors."""
    entries = []
    for name, folder in folders.items():
        base = f"entries/{name}/"
        end_to_end = regular_file(folder, END_TO_END_FILE) is not None
        model, test_input, test_output = ((END_TO_END_FILE, END_TO_END_INPUT, END_TO_END_OUTPUT) if end_to_end
                                          else (ONNX_FILE, TEST_INPUT, TEST_OUTPUT))
        entries.append({
            "name": name,
            "source": "your run" if from_runs(folder, out, reference) else "reference",
            "folder": str(folder),
            "model": base + model,
            "end_to_end": end_to_end,
            "test_input": base + test_input if regular_file(folder, test_input) else None,
            "test_output": base + test_output if regular_file(folder, test_output) else None,
            "report": base + "report.html" if (folder / "report.html").is_file() else None,
            "test_points": base + "test-points.json",
        })
    return {"schema": "zoo.playground/1", "runs": str(out) if out is not None else None,
            "reference": str(reference) if reference is not None else None, "entries": entries}
