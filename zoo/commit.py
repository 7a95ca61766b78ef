"""Writers of one runs folder (``zoo run``, ``zoo export``, ``zoo report``, in any number of processes) change an
entry's folder and its ``manifest.json`` record as one step, which neither a rival writer nor a kill can split.

- Each writer holds the folder's lock (``zoo.folder_lock``) from reading the entry to recording it, so none
  copies a folder that another is about to replace, and none loses another's work.
- ``commit`` writes a journal (the entry, its staging folder, its new manifest record) before it swaps the
  folder in, and removes it once the manifest says the same. ``recover``, run by the next lock holder,
  finishes a commit whose swap happened, undoes one whose swap did not, and removes staging folders and
  temporary files: only lock holders make them, so any left while it holds the lock belong to no one.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from zoo import files, interrupts
from zoo.exports.manifest import manifest_entry, record_entry
from zoo.folder_lock import locked

JOURNAL = ".manifest.journal.json"
JOURNAL_SCHEMA = "zoo.journal/1"


@contextlib.contextmanager
def writing(out: str | Path) -> Iterator[Path]:
    """Hold ``out``'s writer lock for the block, after repairing what an earlier, killed writer left."""
    out = Path(out)
    with locked(out):
        recover(out)
        yield out


def commit(staging: Path, dest: Path, report: dict[str, Any]) -> None:
    """Make ``staging`` the entry folder ``dest`` and record its export in the manifest, as one step.

    The caller holds the lock (``writing``). Ctrl-C and SIGTERM wait until the step is done; after a
    SIGKILL or a power cut, ``recover`` completes or undoes it.
    """
    out, name = dest.parent, dest.name
    record = manifest_entry(staging, report, name)
    with interrupts.deferred():
        files.write_json(out / JOURNAL, {"schema": JOURNAL_SCHEMA, "entry": name, "staging": staging.name,
                                         "record": record})
        files.swap_in(staging, dest)
        record_entry(out, name, record)
        (out / JOURNAL).unlink()


def recover(out: Path) -> None:
    """Complete or undo an interrupted commit, then remove leftovers no writer owns; the caller holds the lock."""
    journal = _read_journal(out)
    if journal is not None:
        dest, staging = out / journal["entry"], out / journal["staging"]
        files.recover(dest)  # the old folder back if the swap stopped between its renames, else its copy gone
        if staging.exists():  # the swap never completed: the old folder stays current
            shutil.rmtree(staging, ignore_errors=True)
        else:
            record_entry(out, dest.name, journal["record"])
        (out / JOURNAL).unlink(missing_ok=True)
    for path in sorted(out.iterdir()) if out.is_dir() else []:
        if (swapped := files.swapped_out(path)) is not None:
            files.recover(swapped)
        elif files.is_leftover(path):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        elif path.is_dir() and not path.name.startswith("."):
            for inner in path.glob(".*"):
                if files.is_leftover(inner) and inner.is_file():
                    inner.unlink(missing_ok=True)


def _read_journal(out: Path) -> dict[str, Any] | None:
    """The journal of an interrupted commit, or None; one that is not zoo's is removed (it records nothing)."""
    path = out / JOURNAL
    try:
        journal = json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        journal = None
    if (isinstance(journal, dict) and journal.get("schema") == JOURNAL_SCHEMA
            and all(isinstance(journal.get(k), str) and "/" not in journal[k] and journal[k] not in ("", ".", "..")
                    for k in ("entry", "staging"))
            and isinstance(journal.get("record"), dict | None)):
        return journal
    path.unlink(missing_ok=True)
    return None


def settle(out: str | Path) -> None:
    """For readers: repair ``out`` if a killed writer left it mid-commit, unless a live writer holds it now.

    Does nothing in a folder the reader cannot write (the reference set inside site-packages).
    """
    out = Path(out)
    if not out.is_dir() or not _has_leftovers(out):
        return
    try:
        with locked(out, wait=False) as held:
            if held:
                recover(out)
    except OSError:
        pass  # read-only: nothing to repair with, and nothing a reader needs to write


def _has_leftovers(out: Path) -> bool:
    return (out / JOURNAL).exists() or any(files.swapped_out(p) or files.is_leftover(p) for p in out.iterdir())
