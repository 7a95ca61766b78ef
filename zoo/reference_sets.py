"""The reference sets plugins ship (``zoo.ReferenceSet``), zoo's own among them: which one serves an entry, checked.

A set serves an entry when its manifest lists it and a plugin of the same distribution registers it. Before
a set's files are used, its manifest is read and the entry's files are checked against it (present, sha256
as recorded); a set or an entry that fails is refused with one warning naming the plugin and the fix, and
every other entry goes on. The checks run once per process. A set given by URL is downloaded once into
``$ZOO_HOME/cache/reference-sets/SHA256/``, its archive checked against its sha256, and used offline after;
only the commands that need the files (``zoo predict``, ``zoo.create_model(trained=True)``, ...) download it.

Reads JSON and hashes files: no Keras, TensorFlow or onnxruntime.
"""

from __future__ import annotations

import functools
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from zoo import files, locations
from zoo.errors import ZooError, ZooWarning
from zoo.exports.manifest import NewerManifestError, read_manifest
from zoo.registry import Registry
from zoo.specs import ReferenceSet


class ReferenceSetWarning(ZooWarning):
    """A plugin's reference set, or one entry of it, failed its checks and is not used."""


@dataclass
class ShippedSet:
    """One declared set as found on this machine."""

    plugin: str
    package: str | None
    declared: ReferenceSet
    root: Path | None  # the folder holding manifest.json; None while a URL set is not downloaded
    entries: dict[str, Any]  # the manifest's entries; empty when the set as a whole was refused
    tried_download: bool = False

    @property
    def fix(self) -> str:
        """How the plugin's user gets a good set again."""
        return f"reinstall {self.package or 'the plugin'}" if self.declared.folder is not None else \
            f"delete {self.root} to download it again" if self.root else "check the network and try again"


def shipped_sets(registry: Registry) -> list[ShippedSet]:
    """Every set the plugins declared, with its manifest read (a set that cannot be read is warned about)."""
    if "reference_sets" not in registry.found:
        registry.found["reference_sets"] = _sets(registry)
    return registry.found["reference_sets"]


def _sets(registry: Registry) -> list[ShippedSet]:
    found = []
    for plugin, declared in registry.reference_sets:
        info = registry.plugins[plugin]
        root = Path(declared.folder) if declared.folder is not None else _cached_download(declared)
        shipped = ShippedSet(plugin, info.package, declared, root, {})
        if root is not None:
            shipped.entries = _entries(shipped, registry)
        found.append(shipped)
    return found


def _entries(shipped: ShippedSet, registry: Registry) -> dict[str, Any]:
    where = f"plugin {shipped.plugin!r}'s reference set"
    try:
        manifest = read_manifest(shipped.root)
    except NewerManifestError as exc:
        _warn(f"{where} is not used: {exc}")
        return {}
    except ZooError as exc:
        _warn(f"{where}: {str(exc).split('; ')[0]}; it is not used; {shipped.fix}")
        return {}
    if manifest is None:
        _warn(f"{where}: no manifest.json in {shipped.root}; it is not used; {shipped.fix} (its author builds it with "
              f"'zoo reference {shipped.plugin} --dest {shipped.root}')")
        return {}
    entries = {}
    for name, entry in manifest["entries"].items():
        owner = registry.owners.get(f"model:{name}")
        if owner is None or registry.plugins[owner].package != shipped.package:
            _warn(f"{where} holds results for {name!r}, which {shipped.package or shipped.plugin} does not register: "
                  "they are not used; rebuild the set with 'zoo reference PLUGIN --dest DIR'")
            continue
        entries[name] = entry
    return entries


def reference_root(name: str, registry: Registry, *, fetch: bool = False) -> Path | None:
    """The folder whose ``NAME/`` holds ``name``'s shipped results, checked against its manifest; or None.

    With ``fetch``, a set given by URL that is not in the cache yet is downloaded first.
    """
    for shipped in shipped_sets(registry):
        if shipped.root is None and fetch and not shipped.tried_download:
            _fetch_into(shipped, registry)
        if name in shipped.entries and _entry_checks(shipped.root, name, shipped.plugin, shipped.fix,
                                                     _files_of(shipped, name)):
            return shipped.root
    return None


def shipped_entries(registry: Registry) -> dict[str, Path]:
    """Every entry with checked shipped results, and the folder of its files (``ROOT/NAME``)."""
    found = {}
    for shipped in shipped_sets(registry):
        for name in shipped.entries:
            if name not in found and reference_root(name, registry) == shipped.root:
                found[name] = shipped.root / name
    return found


def _files_of(shipped: ShippedSet, name: str) -> tuple[tuple[str, str, int], ...]:
    return tuple((key, facts["sha256"], facts["bytes"]) for key, facts in shipped.entries[name]["files"].items())


@functools.cache
def _entry_checks(root: Path, name: str, plugin: str, fix: str, listed: tuple[tuple[str, str, int], ...]) -> bool:
    for key, sha256, size in listed:
        path = root / key
        if not key.startswith(f"{name}/") or ".." in Path(key).parts:
            problem = f"lists {key}, outside {name}/"
        elif not path.is_file():
            problem = f"lacks {key}, which its manifest lists"
        elif path.stat().st_size != size or files.sha256_file(path) != sha256:
            problem = f"has a {key} whose sha256 differs from its manifest's"
        else:
            continue
        _warn(f"plugin {plugin!r}'s reference set {problem}: its results for {name!r} are not used; {fix}")
        return False
    return True


def _warn(message: str) -> None:
    warnings.warn(ReferenceSetWarning(message), stacklevel=3)


def cache_folder(declared: ReferenceSet) -> Path:
    """Where a set given by URL lives once downloaded: named by its archive's sha256."""
    return locations.zoo_home() / "cache" / "reference-sets" / str(declared.sha256)


def _cached_download(declared: ReferenceSet) -> Path | None:
    folder = cache_folder(declared)
    return folder if (folder / "manifest.json").is_file() else None


def _fetch_into(shipped: ShippedSet, registry: Registry) -> None:
    from zoo.reference_download import download_set

    shipped.tried_download = True  # once per process; a failed download is tried again by the next command
    try:
        shipped.root = download_set(shipped.declared, cache_folder(shipped.declared))
    except ZooError as exc:
        _warn(f"plugin {shipped.plugin!r}'s reference set: {exc}; its entries have no shipped results")
        return
    shipped.entries = _entries(shipped, registry)
