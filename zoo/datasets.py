"""Finding and loading a dataset's data, from the first place that has it.

The order, for a dataset stored as files:
1. ``--data-dir`` / ``ZOO_DATA_DIR``: a folder with ``<dataset>/`` sub-folders of the standard files;
2. the Keras cache (``$KERAS_HOME`` or ``~/.keras``), where ``keras.datasets`` keeps its downloads;
3. the system folders (Debian's ``dataset-*`` packages install to ``/usr/share/datasets/<name>``);
4. the canonical download, through Keras' ``get_file`` with the file's known sha256.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.errors import DataError
from zoo.files import sha256_file
from zoo.specs import DatasetSpec, Splits

# Where operating-system packages put datasets; a module constant so tests can point it elsewhere.
SYSTEM_DATA_DIRS: tuple[Path, ...] = (Path("/usr/share/datasets"),)


@dataclass(frozen=True)
class Place:
    """One place a dataset may load from."""

    kind: str  # "data dir", "Keras cache", "system", "download", "load():" (made by the dataset's own function)
    path: str  # folder, file or URL
    missing: str | None  # why it cannot be used now, or None if it can
    read: Callable[[], Splits]

    def describe(self) -> str:
        """E.g. ``Keras cache /root/.keras/datasets/mnist.npz``."""
        return f"{self.kind} {self.path}"


def data_dir_from_env(data_dir: str | Path | None = None) -> Path | None:
    """The data folder given on the command line, else ``ZOO_DATA_DIR``, else None."""
    chosen = data_dir or os.environ.get("ZOO_DATA_DIR")
    return Path(chosen).expanduser() if chosen else None


def keras_cache_dir() -> Path:
    """The Keras home folder that ``keras.utils.get_file`` caches into."""
    return Path(os.environ.get("KERAS_HOME") or Path.home() / ".keras").expanduser()


def places(spec: DatasetSpec, data_dir: str | Path | None = None) -> Iterator[Place]:
    """Every place ``spec`` could load from, in the order zoo tries them."""
    if not spec.needs_files:
        yield Place("load():", spec.origin or "made in code by its plugin", None, spec.load)
        return
    root = data_dir_from_env(data_dir)
    if root is not None:
        yield from _folders(spec, "data dir", root)
    if spec.downloads:
        yield _cache(spec)
    for system_dir in SYSTEM_DATA_DIRS:
        yield from _folders(spec, "system", system_dir)
    if spec.downloads:
        urls = [r.url for r in spec.downloads]
        where = urls[0] if len(urls) == 1 else f"{len(urls)} files from {urls[0].rsplit('/', 1)[0]}/"
        yield Place("download", where, None, lambda: _download(spec))


def _folders(spec: DatasetSpec, kind: str, root: Path) -> Iterator[Place]:
    if not spec.folder_files:
        return
    if not root.is_dir():
        yield Place(kind, str(root), "folder does not exist", _unusable)
        return
    candidates = [root / name for name in spec.folder_names]
    existing = [folder for folder in candidates if folder.is_dir()]
    if not existing:
        yield Place(kind, str(candidates[0]), "folder does not exist", _unusable)
        return
    for folder in existing:
        absent = [f for f in spec.folder_files if not (folder / f).is_file()]
        missing = f"missing {', '.join(absent)}" if absent else None
        yield Place(kind, str(folder), missing, lambda folder=folder: spec.read_folder(folder))


def _cache_paths(spec: DatasetSpec) -> list[Path]:
    return [keras_cache_dir() / remote.cache_subdir / remote.fname for remote in spec.downloads]


def _cache(spec: DatasetSpec) -> Place:
    paths = _cache_paths(spec)
    where = str(paths[0].parent) if len(paths) > 1 else str(paths[0])
    absent = [p.name for p in paths if not p.is_file()]
    # A cached file that fails its hash is treated as Keras does: as absent, to be downloaded again.
    stale = [] if absent else [p.name for p, r in zip(paths, spec.downloads) if sha256_file(p) != r.sha256]
    missing = (f"missing {', '.join(absent)}" if absent
               else f"sha256 mismatch in {', '.join(stale)}" if stale else None)
    return Place("Keras cache", where, missing, lambda: _read_downloads(spec, paths))


def _read_downloads(spec: DatasetSpec, paths: list[Path]) -> Splits:
    if spec.read_downloads is not None:
        return spec.read_downloads(paths)
    return spec.read_folder(paths[0].parent)


def _download(spec: DatasetSpec) -> Splits:
    import keras  # only a download needs Keras here

    paths = []
    for remote in spec.downloads:
        target = keras_cache_dir() / remote.cache_subdir / remote.fname
        # get_file silently caches under /tmp/.keras when the Keras home does not exist yet.
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            paths.append(Path(keras.utils.get_file(remote.fname, origin=remote.url, file_hash=remote.sha256,
                                                   cache_dir=str(keras_cache_dir()),
                                                   cache_subdir=remote.cache_subdir)))
        except ValueError as exc:  # Keras keeps a file that fails its hash check; zoo does not
            target.unlink(missing_ok=True)
            raise DataError(f"download of {remote.url} failed its sha256 check ({exc}); "
                            "the file was discarded, try again later") from exc
        except Exception as exc:
            target.unlink(missing_ok=True)
            raise _Unreachable(f"{remote.url}: {exc}") from exc
    return _read_downloads(spec, paths)


class _Unreachable(DataError):
    """The download could not connect; the caller folds it into the list of places tried."""


def _unusable() -> Splits:
    raise AssertionError("a place with a 'missing' reason is never read")


def locate(spec: DatasetSpec, data_dir: str | Path | None = None) -> Place | None:
    """The first place ``spec`` would load from now (a download counts), or None."""
    return next((p for p in places(spec, data_dir) if p.missing is None), None)


def load_dataset(spec: DatasetSpec, data_dir: str | Path | None = None) -> Splits:
    """Load ``spec``'s arrays from the first usable place, checked against its declared classes.

    Corrupt files raise at once, naming the file: a broken local copy is never silently
    replaced by another. When no place has the data, one error lists each place tried.
    """
    tried = []
    for place in places(spec, data_dir):
        if place.missing is not None:
            tried.append(f"{place.describe()} ({place.missing})")
            continue
        try:
            splits = place.read()
        except _Unreachable as exc:
            tried.append(f"download {exc}")
            continue
        _check_splits(spec, splits, place)
        return dataclasses.replace(splits, origin=place.describe(), files=splits.files or array_checksums(splits))
    folder = spec.folder_names[0] if spec.folder_names else spec.name
    raise DataError(f"dataset {spec.name!r} not found; tried: {'; '.join(tried)}. Fix: put the standard files "
                    f"({', '.join(spec.folder_files)}) in DIR/{folder}/ and pass --data-dir DIR "
                    "(or set ZOO_DATA_DIR), or connect to the network so zoo can download them")


def _check_splits(spec: DatasetSpec, splits: Splits, place: Place) -> None:
    for part in ("train", "test"):
        x, y = getattr(splits, f"x_{part}"), getattr(splits, f"y_{part}")
        if len(x) != len(y) or len(x) == 0:
            raise DataError(f"dataset {spec.name!r} from {place.describe()}: {part} split has "
                            f"{len(x)} inputs and {len(y)} targets")
        if spec.task == "classification" and (y.min() < 0 or y.max() >= len(spec.class_names)):
            raise DataError(f"dataset {spec.name!r} from {place.describe()}: {part} labels range "
                            f"{y.min()}..{y.max()}, but the dataset has {len(spec.class_names)} classes; labels must "
                            f"be class indices 0..{len(spec.class_names) - 1} into class_names")


def array_checksums(splits: Splits) -> dict[str, str]:
    """sha256 of each array's bytes, for data that comes from no file."""
    return {part: hashlib.sha256(np.ascontiguousarray(getattr(splits, part)).tobytes()).hexdigest()
            for part in ("x_train", "y_train", "x_test", "y_test")}
