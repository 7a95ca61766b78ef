"""Files written safely: to a temporary name in the same folder, then renamed into place.

A rename within one folder is atomic, so a reader (or a later run) sees either the
old file or the complete new one, never half of one, even after Ctrl-C or a full disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(dest: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; on success rename it to ``dest``, on failure delete it.

    The temporary name keeps ``dest``'s suffix, since some writers (Keras' ``.keras``) insist on it.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.stem}.", suffix=f".tmp{dest.suffix}", dir=dest.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        # mkstemp makes the file private (0600); give it the mode any other new file would have.
        tmp_path.chmod(0o666 & ~_umask())
        os.replace(tmp_path, dest)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes(dest: str | Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` atomically, flushed to disk before the rename."""
    with atomic_path(dest) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_text(dest: str | Path, text: str) -> None:
    """Write UTF-8 ``text`` to ``dest`` atomically."""
    write_bytes(dest, text.encode("utf-8"))


def finite(value: Any) -> Any:
    """``value`` with NaN and infinities (at any depth) as None, so it can be written as JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value


def write_json(dest: str | Path, value: Any) -> None:
    """Write ``value`` as indented JSON to ``dest`` atomically."""
    write_text(dest, json.dumps(value, indent=2, sort_keys=False, allow_nan=False) + "\n")


def sha256_file(path: str | Path) -> str:
    """The hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def check_writable(folder: str | Path) -> None:
    """Raise OSError now if files cannot be created in ``folder`` (made if missing), before hours of work."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder):
        pass


STAGING_SUFFIX = ".tmp"


def _previous(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.previous")


def recover(dest: str | Path) -> None:
    """Finish or undo a folder swap that a crash interrupted, so ``dest`` is whole again."""
    dest = Path(dest)
    previous = _previous(dest)
    if previous.is_dir():
        if dest.exists():
            shutil.rmtree(previous, ignore_errors=True)  # the swap completed; only the cleanup was lost
        else:
            os.replace(previous, dest)  # the crash came between the two renames: put the old one back


@contextlib.contextmanager
def staged_folder(dest: str | Path, *, copy_existing: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``dest``; on success it replaces ``dest`` whole, on failure it goes.

    Readers see the old folder or the complete new one. A crash between the two renames
    of the swap is repaired by ``recover`` (called here and by readers). With
    ``copy_existing``, the temporary folder starts as a copy of ``dest``, to add files to it.
    The block may swap the folder in itself (``swap_in``, as ``zoo.commit`` does with its manifest
    record); then nothing is left to do on exit.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    recover(dest)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=STAGING_SUFFIX, dir=dest.parent))
    tmp.chmod(0o777 & ~_umask())  # mkdtemp's folder is private (0700), unlike any other new folder
    try:
        if copy_existing and dest.is_dir():
            shutil.copytree(dest, tmp, dirs_exist_ok=True)
        yield tmp
        if tmp.exists():
            swap_in(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def swap_in(staging: Path, dest: Path) -> None:
    """Replace the folder ``dest`` by ``staging`` (two renames; ``recover`` repairs a crash between them)."""
    previous = _previous(dest)
    if dest.exists():
        os.replace(dest, previous)
    os.replace(staging, dest)
    shutil.rmtree(previous, ignore_errors=True)


def is_leftover(path: Path) -> bool:
    """Whether ``path`` is a staging folder or temporary file of ``staged_folder``/``atomic_path``."""
    name = path.name
    return name.startswith(".") and (name.endswith(STAGING_SUFFIX) or f"{STAGING_SUFFIX}." in name)


def swapped_out(path: Path) -> Path | None:
    """The folder whose swap left ``path`` (its ``.NAME.previous``) behind, or None for any other path."""
    name = path.name
    if name.startswith(".") and name.endswith(".previous") and len(name) > len("..previous"):
        return path.with_name(name[1:-len(".previous")])
    return None
