"""Plugin discovery and loading: entry points of the ``zoo`` group, one failure never stops the rest.

Every plugin, the built-in ones included, is found through the entry-point group.
Each hook is called plugin by plugin and what a plugin registers is staged: it is
kept only if that plugin's hook finishes cleanly, so a plugin that raises halfway
leaves nothing half-registered behind.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from importlib import metadata

import pluggy

from zoo import hookspecs
from zoo.errors import InvalidSpecError, PluginConflictError, ZooWarning, did_you_mean
from zoo.registry import PluginInfo, Registry
from zoo.specs import DatasetSpec, ModelSpec

ENTRY_POINT_GROUP = "zoo"


class PluginWarning(ZooWarning):
    """A plugin failed to load or register; the others still loaded."""


@dataclass(frozen=True)
class PluginSource:
    """A plugin not yet loaded: its name, how to load it, and the package it comes from."""

    name: str
    load: Callable[[], object]
    package: str | None = None
    version: str | None = None


def discover() -> list[PluginSource]:
    """Every plugin the installed packages declare in the ``zoo`` entry-point group, by name."""
    seen: dict[str, PluginSource] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        seen.setdefault(ep.name, PluginSource(
            ep.name, ep.load, dist.metadata["Name"] if dist else None, dist.version if dist else None))
    return [seen[name] for name in sorted(seen)]


def parse_selection(value: str | None) -> tuple[set[str], set[str]]:
    """``ZOO_PLUGINS`` as (names to keep, names to leave out): ``a,b`` keeps only those, ``-c`` drops c."""
    keep, drop = set(), set()
    for item in (value or "").split(","):
        item = item.strip()
        if item.startswith("-"):
            drop.add(item[1:].strip())
        elif item:
            keep.add(item)
    return keep, drop


def build_registry(sources: Iterable[PluginSource], selection: str | None = None) -> Registry:
    """Load the plugins, call their hooks and collect what they register.

    ``selection`` is a ``ZOO_PLUGINS`` value. Failures become warnings and a
    failed entry in ``registry.plugins``; they never stop other plugins.
    """
    sources = list(sources)
    registry = Registry()
    keep, drop = parse_selection(selection)
    for unknown in sorted((keep | drop) - {s.name for s in sources}):
        warnings.warn(PluginWarning(f"ZOO_PLUGINS names no installed plugin {unknown!r}."
                                    f"{did_you_mean(unknown, [s.name for s in sources])}"), stacklevel=2)
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    loaded = []
    for source in sources:
        info = registry.plugins[source.name] = PluginInfo(source.name, source.package, source.version)
        if (keep and source.name not in keep) or source.name in drop:
            info.skipped = True
            continue
        try:
            manager.register(source.load(), name=source.name)
            loaded.append(source.name)
        except Exception as exc:  # a broken plugin must not take the others down
            _fail(info, "failed to load", exc)
    _call_hook(manager, "register_datasets", loaded, registry, _add_dataset)
    _call_hook(manager, "register_models", loaded, registry, _add_model)
    return registry


def _call_hook(manager: pluggy.PluginManager, hook: str, order: list[str], registry: Registry,
               add: Callable[[Registry, str, object], None]) -> None:
    impls = {impl.plugin_name: impl for impl in getattr(manager.hook, hook).get_hookimpls()}
    for name in order:
        info = registry.plugins[name]
        if name not in impls or info.error:
            continue
        staged: list = []
        try:
            impls[name].function(register=staged.append)
            for spec in staged:
                add(registry, name, spec)
        except Exception as exc:
            _rollback(registry, name, staged)
            _fail(info, f"raised in {hook}", exc)


def _add_dataset(registry: Registry, plugin: str, spec: object) -> None:
    if not isinstance(spec, DatasetSpec):
        raise InvalidSpecError(f"register_datasets got {type(spec).__name__}, not a zoo.DatasetSpec")
    _claim(registry, plugin, "dataset", spec.name)
    registry.datasets[spec.name] = spec
    registry.plugins[plugin].datasets.append(spec.name)


def _add_model(registry: Registry, plugin: str, spec: object) -> None:
    if not isinstance(spec, ModelSpec):
        raise InvalidSpecError(f"register_models got {type(spec).__name__}, not a zoo.ModelSpec")
    if spec.dataset not in registry.datasets:
        raise InvalidSpecError(
            f"model {spec.name!r} names dataset {spec.dataset!r}, which no loaded plugin registers."
            f"{did_you_mean(spec.dataset, registry.datasets)}")
    dataset = registry.datasets[spec.dataset]
    if dataset.task != spec.task:
        raise InvalidSpecError(f"model {spec.name!r} outputs {spec.outputs} ({spec.task}) but dataset "
                               f"{dataset.name!r} is for {dataset.task}")
    if spec.target is not None and spec.target not in dataset.target_names:
        raise InvalidSpecError(f"model {spec.name!r} fits target {spec.target!r}, which dataset "
                               f"{dataset.name!r} lacks (it has {', '.join(dataset.target_names) or 'none'})")
    _claim(registry, plugin, "model", spec.name)
    registry.models[spec.name] = spec
    registry.plugins[plugin].models.append(spec.name)


def _claim(registry: Registry, plugin: str, kind: str, name: str) -> None:
    key = f"{kind}:{name}"
    if key in registry.owners:
        first = registry.owners[key]
        if first == plugin:
            raise PluginConflictError(f"plugin {plugin!r} registers {kind} {name!r} twice")
        raise PluginConflictError(
            f"{kind} {name!r} is registered by both plugin {first!r} and plugin {plugin!r}; "
            f"uninstall one, or leave one out with ZOO_PLUGINS=-{plugin}")
    registry.owners[key] = plugin


def _rollback(registry: Registry, plugin: str, staged: list) -> None:
    info = registry.plugins[plugin]
    for spec in staged:
        kind, table, names = (("model", registry.models, info.models) if isinstance(spec, ModelSpec)
                              else ("dataset", registry.datasets, info.datasets))
        if registry.owners.get(f"{kind}:{getattr(spec, 'name', None)}") == plugin and spec.name in names:
            del registry.owners[f"{kind}:{spec.name}"]
            del table[spec.name]
            names.remove(spec.name)


def _fail(info: PluginInfo, what: str, exc: BaseException) -> None:
    message = f"{type(exc).__name__}: {exc}"
    info.error = f"{what}: {message}" if info.error is None else f"{info.error}; {what}: {message}"
    warnings.warn(PluginWarning(f"plugin {info.name!r} {what}: {message}"), stacklevel=3)


@functools.cache
def load_registry() -> Registry:
    """The registry of every installed plugin, honouring ``ZOO_PLUGINS``; built once per process."""
    return build_registry(discover(), os.environ.get("ZOO_PLUGINS"))
