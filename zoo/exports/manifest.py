"""``manifest.json``: every export in an output folder, its files' sha256 and sizes, and what it scored.

Apps check a downloaded ``model.onnx`` against it; ``zoo predict`` refuses a file that differs.
Needs no ONNX, Keras or TensorFlow: it reads and writes JSON and hashes files.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from zoo import environment, files
from zoo.errors import ExportError
from zoo.folder_lock import locked
from zoo.version import __version__

MANIFEST = "manifest.json"
SCHEMA = "zoo.manifest/2"  # adds "zoo_version", the zoo that wrote the file
READABLE_SCHEMAS = ("zoo.manifest/1", SCHEMA)
ONNX_FILE = "model.onnx"
MODEL_FILE = "model.keras"
# The end-to-end export (zoo.exports.end_to_end): raw samples in, probabilities and class (or y) out.
END_TO_END_FOLDER = "end_to_end"
END_TO_END_FILE = f"{END_TO_END_FOLDER}/model.onnx"
END_TO_END_TEST_DATA_SET = f"{END_TO_END_FOLDER}/test_data_set_0"


class NewerManifestError(ExportError):
    """A manifest written by a newer zoo, in a schema this one cannot read: the fix is to upgrade zoo."""


def file_facts(path: Path) -> dict[str, Any]:
    """``{"sha256", "bytes"}`` of a file."""
    return {"sha256": files.sha256_file(path), "bytes": Path(path).stat().st_size}


def read_manifest(out: str | Path) -> dict[str, Any] | None:
    """``<out>/manifest.json``, or None when there is none; ExportError when it is not a well-formed zoo manifest."""
    path = Path(out) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path}: unreadable ({exc}); {_REBUILD}") from exc
    if isinstance(manifest, dict) and _is_newer(manifest.get("schema")):
        written_by = manifest.get("zoo_version", "(a newer version)")
        raise NewerManifestError(f"{path}: written by zoo {written_by} in schema {manifest['schema']}, which this zoo "
                                 f"({__version__}) cannot read; upgrade zoo")
    if not isinstance(manifest, dict) or manifest.get("schema") not in READABLE_SCHEMAS:
        raise ExportError(f"{path}: not a {SCHEMA} manifest; {_REBUILD}")
    problem = manifest_problem(manifest)
    if problem:
        raise ExportError(f"{path}: {problem}; {_REBUILD}")
    return manifest


_REBUILD = "delete it and run 'zoo export --all' (with --out for another folder) to rebuild it"
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _is_newer(schema: Any) -> bool:
    match = re.fullmatch(r"zoo\.manifest/(\d+)", schema) if isinstance(schema, str) else None
    return bool(match) and int(match.group(1)) > int(SCHEMA.rsplit("/", 1)[1])


def manifest_problem(manifest: dict[str, Any]) -> str | None:
    """What makes a parsed manifest unusable (an entry or file record of the wrong type), or None."""
    entries = manifest.get("entries")
    if not isinstance(entries, dict):
        return f'"entries" is {_kind(entries)}, not an object of entries'
    for name, entry in entries.items():
        if not isinstance(entry, dict) or not isinstance(entry.get("files"), dict):
            return f"entry {name!r} is {_kind(entry)}, not an object with \"files\""
        for key, facts in entry["files"].items():
            if not isinstance(facts, dict) or not isinstance(facts.get("sha256"), str) \
                    or not _SHA256.fullmatch(facts["sha256"]):
                return f"{key}'s record has no sha256 of 64 hex digits"
            if not isinstance(facts.get("bytes"), int) or isinstance(facts["bytes"], bool) or facts["bytes"] < 0:
                return f"{key}'s record has no size in bytes"
    return None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", type(None): "missing"}.get(type(value),
                                                                                          type(value).__name__)


def recorded_sha256(out: str | Path, name: str, file: str = ONNX_FILE) -> str | None:
    """The sha256 that ``<out>/manifest.json`` records for ``name``'s ``file``, or None."""
    manifest = read_manifest(out) or {"entries": {}}
    entry = manifest["entries"].get(name) or {"files": {}}
    return (entry["files"].get(f"{name}/{file}") or {}).get("sha256")


def manifest_entry(folder: Path, report: dict[str, Any], name: str | None = None) -> dict[str, Any] | None:
    """The manifest's record of the export in ``folder`` (hashed from the files there), or None if none.

    ``name`` is the entry's (default: the folder's name), for a staging folder about to become its folder.
    """
    name = name or folder.name
    facts = report.get("onnx") or {}
    if "file" not in facts or not (folder / ONNX_FILE).is_file():
        return None
    end_to_end = facts.get("end_to_end") or {}
    names = [ONNX_FILE, *facts["test_data_set"]["files"],
             *([end_to_end["file"], *end_to_end["test_data_set"]["files"]] if "file" in end_to_end else []),
             *facts.get("extra_files", []),
             *([MODEL_FILE] if (folder / MODEL_FILE).is_file() else [])]
    return {
        "dataset": report["dataset"], "task": report["task"],
        "files": {f"{name}/{n}": file_facts(folder / n) for n in names},
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

    Under the folder's writer lock (``zoo.folder_lock``); a run's folder and its record change together
    through ``zoo.commit`` instead.
    """
    folder = Path(folder)
    with locked(folder.parent):
        return record_entry(folder.parent, folder.name, manifest_entry(folder, report))


def record_entry(out: Path, name: str, entry: dict[str, Any] | None) -> Path:
    """Set ``name``'s record in ``<out>/manifest.json`` to ``entry`` (None: drop it); the caller holds the lock.

    Read-modify-write, then an atomic replace, so the file is never half-written.
    """
    manifest = read_manifest(out) or {"schema": SCHEMA, "entries": {}}
    entries = dict(manifest["entries"])
    if entry is None and name not in entries:
        return out / MANIFEST
    if entry is None:
        entries.pop(name, None)
    else:
        entries[name] = entry
    files.write_json(out / MANIFEST, {"schema": SCHEMA, "zoo_version": __version__, "updated": environment.now(),
                                      "entries": dict(sorted(entries.items()))})
    return out / MANIFEST
