"""``manifest.json``: every export in an output folder, its files' sha256 and sizes, and what it scored.

Apps check a downloaded ``model.onnx`` against it; ``zoo predict`` refuses a file that differs.
Needs no ONNX, Keras or TensorFlow: it reads and writes JSON and hashes files.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo import environment, files
from zoo.errors import ExportError

MANIFEST = "manifest.json"
SCHEMA = "zoo.manifest/1"
ONNX_FILE = "model.onnx"
MODEL_FILE = "model.keras"


def file_facts(path: Path) -> dict[str, Any]:
    """``{"sha256", "bytes"}`` of a file."""
    return {"sha256": files.sha256_file(path), "bytes": Path(path).stat().st_size}


def read_manifest(out: str | Path) -> dict[str, Any] | None:
    """``<out>/manifest.json``, or None when there is none; ExportError when it is not a zoo manifest."""
    path = Path(out) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: unreadable ({exc}); delete it and run 'zoo export --all' to rebuild it") from exc
    if not isinstance(manifest, dict) or manifest.get("schema") != SCHEMA:
        raise ExportError(f"{path}: not a {SCHEMA} manifest; delete it and run 'zoo export --all'")
    return manifest


def recorded_sha256(out: str | Path, name: str, file: str = ONNX_FILE) -> str | None:
    """The sha256 that ``<out>/manifest.json`` records for ``name``'s ``file``, or None."""
    manifest = read_manifest(out) or {}
    key = f"{name}/{file}"
    return ((manifest.get("entries", {}).get(name, {}).get("files", {}).get(key)) or {}).get("sha256")


def manifest_entry(folder: Path, report: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest's record of the export in ``folder`` (hashed from the files there), or None if none."""
    facts = report.get("onnx") or {}
    if "file" not in facts or not (folder / ONNX_FILE).is_file():
        return None
    names = [ONNX_FILE, *facts["test_data_set"]["files"], *facts.get("extra_files", []),
             *([MODEL_FILE] if (folder / MODEL_FILE).is_file() else [])]
    return {
        "dataset": report["dataset"], "task": report["task"],
        "files": {f"{folder.name}/{n}": file_facts(folder / n) for n in names},
        "opset": facts["opset"], "input": facts["input"], "output": facts["output"],
        "metric": facts["metric"],
        "validation": {k: facts["validation"][k] for k in ("samples", "output_kind", "max_abs_diff",
                                                             "max_scaled_diff", "tolerance", "class_mismatches")},
        "versions": environment.versions(),
        "created": facts["created"],
        **_device_copies(facts),
    }


def _device_copies(facts: dict[str, Any]) -> dict[str, Any]:
    """What the manifest records of the batch-1 and int8 copies, when the export has them."""
    if "mobile" not in facts and "int8" not in facts:
        return {}
    from zoo.exports.device_summary import manifest_summary

    return manifest_summary(facts)


def update_manifest(folder: str | Path, report: dict[str, Any]) -> Path:
    """Record (or, when it has no export, drop) the entry in ``folder`` in its parent's ``manifest.json``.

    Read-modify-write under a lock on the folder, then an atomic replace, so concurrent exports
    into the same ``out`` neither lose each other's entries nor leave a half-written file.
    """
    folder = Path(folder)
    out = folder.parent
    with _locked(out):
        manifest = read_manifest(out) or {"schema": SCHEMA, "entries": {}}
        entries = dict(manifest.get("entries", {}))
        entry = manifest_entry(folder, report)
        if entry is None and folder.name not in entries:
            return out / MANIFEST
        if entry is None:
            entries.pop(folder.name, None)
        else:
            entries[folder.name] = entry
        files.write_json(out / MANIFEST, {"schema": SCHEMA, "updated": environment.now(),
                                          "entries": dict(sorted(entries.items()))})
    return out / MANIFEST


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock, the atomic replace still keeps the file whole
        yield
        return
    import os

    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)
