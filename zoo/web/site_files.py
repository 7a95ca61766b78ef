"""What ``zoo serve`` serves and where each file comes from: the page, onnxruntime-web, every entry's export.

- The page (HTML, CSS, JavaScript modules) is package data in ``zoo/web/playground/``.
- onnxruntime-web comes from the npm registry: ``npm ci --prefix web`` installs the version
  pinned in ``web/package-lock.json`` into ``web/node_modules/``; ``$ZOO_ORT_DIR`` points at
  another folder holding the same files. Only the two files of its WebAssembly build that
  the page loads are served (``ORT_FILES``).
- Each entry's export folder comes from ``export_folders``: the user's run when it has an
  ONNX export, else the results its plugin ships (zoo's reference set for the built-ins). Only the files in ``ENTRY_FILES`` (and report
  figures) are served from it, never anything else in the folder.

Light on purpose: no numpy, no onnx, no Keras.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from zoo import locations
from zoo.errors import ZooError

PACKAGE = Path(__file__).resolve().parent
PAGE_DIR = PACKAGE / "playground"
REPO = PACKAGE.parent.parent  # zoo/web -> the source tree (web/node_modules in a checkout)
ORT_ENV = "ZOO_ORT_DIR"
ORT_DIST = Path("node_modules") / "onnxruntime-web" / "dist"
# onnxruntime-web's WebAssembly-only ES module (its Emscripten glue bundled in) and the one
# .wasm binary it runs single-threaded: nothing of the WebGL, WebGPU or threaded builds.
ORT_FILES = ("ort.wasm.bundle.min.mjs", "ort-wasm-simd-threaded.wasm")
ORT_VERSION = "1.30.0"  # as web/package-lock.json pins it
ONNX_FILE = "model.onnx"
TEST_INPUT = "test_data_set_0/input_0.pb"
TEST_OUTPUT = "test_data_set_0/output_0.pb"
ENTRY_FILES = (ONNX_FILE, TEST_INPUT, TEST_OUTPUT, "report.json", "report.html")
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


def ort_folder() -> Path:
    """The folder holding ``ORT_FILES``: ``$ZOO_ORT_DIR``; else what ``npm ci --prefix web`` installed in zoo's
    source folder; else an install under ``$ZOO_HOME/web`` (for zoo installed from a wheel)."""
    if os.environ.get(ORT_ENV):
        candidates = [Path(os.environ[ORT_ENV])]
    else:
        candidates = [REPO / "web" / ORT_DIST, locations.zoo_home() / "web" / ORT_DIST]
    for folder in candidates:
        if all((folder / name).is_file() for name in ORT_FILES):
            return folder
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
    path = folder / relative
    return path if path.is_file() else None


def from_runs(folder: Path, out: Path | None, reference: Path | None = None) -> bool:
    """Whether an entry's folder (from ``export_folders``) is the user's own run rather than shipped results."""
    shipped = {Path(reference).resolve()} if reference is not None else \
        {f.parent.resolve() for f in shipped_folders().values()}
    parent = folder.parent.resolve()
    return out is not None and parent == Path(out).resolve() and parent not in shipped


def entry_index(folders: dict[str, Path], out: Path | None, reference: Path | None = None) -> dict[str, Any]:
    """The JSON the page starts from: every entry, where it comes from, and the URLs of its files."""
    entries = []
    for name, folder in folders.items():
        base = f"entries/{name}/"
        entries.append({
            "name": name,
            "source": "your run" if from_runs(folder, out, reference) else "reference",
            "folder": str(folder),
            "model": base + ONNX_FILE,
            "test_input": base + TEST_INPUT if (folder / TEST_INPUT).is_file() else None,
            "test_output": base + TEST_OUTPUT if (folder / TEST_OUTPUT).is_file() else None,
            "report": base + "report.html" if (folder / "report.html").is_file() else None,
            "test_points": base + "test-points.json",
        })
    return {"schema": "zoo.playground/1", "runs": str(out) if out is not None else None,
            "reference": str(reference) if reference is not None else None, "entries": entries}
