"""Downloading a reference set given by URL: once, checked against its sha256, unpacked safely, kept in the cache.

The archive streams to a temporary file while it is hashed; one whose sha256 differs is deleted, never
unpacked. Unpacking refuses members that would land outside the set's folder (absolute paths, ``..``,
links), and the folder appears whole or not at all (``zoo.files.staged_folder``).
"""

from __future__ import annotations

import hashlib
import shutil
import tarfile
import tempfile
import urllib.request
import zipfile
from pathlib import Path

from zoo import files
from zoo.errors import DataError
from zoo.specs import ReferenceSet

TIMEOUT_S = 60


def download_set(declared: ReferenceSet, dest: Path) -> Path:
    """``dest`` holding the set of ``declared.url``, downloaded and unpacked now; DataError in one line if not."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=".download.", suffix=".tmp") as archive:
        digest = download(declared.url, archive).hexdigest()
        if digest != declared.sha256:
            raise DataError(f"download of {declared.url} has sha256 {digest[:12]}…, not the declared "
                            f"{declared.sha256[:12]}…; it was discarded")
        with files.staged_folder(dest) as staging:
            _unpack(Path(archive.name), staging, declared.url)
            inner = _single_top_folder(staging)
            if inner is not None:  # an archive of the folder itself rather than of its contents
                for item in list(inner.iterdir()):
                    shutil.move(str(item), staging / item.name)
                inner.rmdir()
            if not (staging / "manifest.json").is_file():
                raise DataError(f"{declared.url}: the archive holds no manifest.json; it is not a zoo reference set")
    return dest


def download(url: str, into, algorithm: str = "sha256"):
    """Stream ``url`` into the open binary file ``into``; the ``hashlib`` hash of what was written."""
    digest = hashlib.new(algorithm)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                into.write(block)
        into.flush()
    except (OSError, ValueError) as exc:  # URLError is an OSError; a malformed URL a ValueError
        raise DataError(f"cannot download {url} ({getattr(exc, 'reason', exc)})") from exc
    return digest


def _unpack(archive: Path, into: Path, url: str) -> None:
    try:
        if url.endswith(".zip"):
            with zipfile.ZipFile(archive) as z:
                for member in z.namelist():
                    _inside(into, member, url)
                z.extractall(into)
        else:
            with tarfile.open(archive, "r:gz") as t:
                t.extractall(into, filter="data")  # refuses links out, absolute paths and devices
    except (tarfile.TarError, zipfile.BadZipFile, OSError, EOFError) as exc:
        raise DataError(f"{url}: not a readable archive ({exc})") from exc


def _inside(root: Path, member: str, url: str) -> None:
    if Path(member).is_absolute() or ".." in Path(member).parts:
        raise DataError(f"{url}: the archive's member {member!r} would land outside the set's folder")


def _single_top_folder(folder: Path) -> Path | None:
    items = list(folder.iterdir())
    return items[0] if len(items) == 1 and items[0].is_dir() else None
