"""Plugin discovery and loading: entry points of the ``zoo`` group, one failure never stops the rest.

Every plugin, the built-in ones included, is found through the entry-point group. Each hook
implementation pluggy accepts is called, plugin by plugin, and what it registers is staged: it is
kept only if that implementation finishes cleanly, so one that raises halfway leaves nothing
half-registered behind. zoo's own plugins load first and keep their names: a third-party plugin
that registers a taken name is refused that name; between third-party plugins the first by
entry-point name keeps it.
"""

from __future__ import annotations

import difflib
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
from zoo.specs import DatasetSpec, ModelSpec, ReferenceSet

ENTRY_POINT_GROUP = "zoo"
BUILTIN_DISTRIBUTION = "zoo"
HOOKS = ("register_datasets", "register_models", "register_reference_sets")


class PluginWarning(ZooWarning):
    """A plugin failed to load or register something; the others still loaded."""


@dataclass(frozen=True)
class PluginSource:
    """A plugin not yet loaded: its name, how to load it, and the package it comes from."""

    name: str
    load: Callable[[], object]
    package: str | None = None
    version: str | None = None

    @property
    def builtin(self) -> bool:
        """Whether zoo itself ships this plugin."""
        return self.package == BUILTIN_DISTRIBUTION


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

    ``selection`` is a ``ZOO_PLUGINS`` value. Failures become warnings and problems recorded in
    ``registry.plugins``; they never stop other plugins. zoo's own plugins go first, then the
    others by entry-point name: the first to register a name keeps it.
    """
    sources = sorted(sources, key=lambda s: (not s.builtin, s.name))
    registry = Registry()
    keep, drop = parse_selection(selection)
    for unknown in sorted((keep | drop) - {s.name for s in sources}):
        warnings.warn(PluginWarning(f"ZOO_PLUGINS names no installed plugin {unknown!r}."
                                    f"{did_you_mean(unknown, [s.name for s in sources])}"), stacklevel=2)
    manager = pluggy.PluginManager(ENTRY_POINT_GROUP)
    manager.add_hookspecs(hookspecs)
    loaded = []
    for source in sources:
        info = registry.plugins[source.name] = PluginInfo(source.name, source.package, source.version,
                                                           builtin=source.builtin)
        if (keep and source.name not in keep) or source.name in drop:
            info.skipped = True
            continue
        try:
            plugin = source.load()
            manager.register(plugin, name=source.name)
        except (Exception, SystemExit) as exc:  # a broken plugin (even one calling sys.exit) must not take the others down
            _problem(info, f"failed to load: {_raised(exc)}")
            continue
        loaded.append(source.name)
        _check_hook_names(manager, plugin, info)
    _call_hook(manager, "register_datasets", loaded, registry, _add_dataset)
    _call_hook(manager, "register_models", loaded, registry, _add_model)
    _call_hook(manager, "register_reference_sets", loaded, registry, _add_reference_set)
    return registry


def _check_hook_names(manager: pluggy.PluginManager, plugin: object, info: PluginInfo) -> None:
    """Warn of an implementation of no zoo hook (a misspelling), and of a hook function left unmarked."""
    implemented = set()
    for caller in manager.get_hookcallers(plugin) or []:
        if caller.spec is None:
            nearest = difflib.get_close_matches(caller.name, HOOKS, n=1, cutoff=0.0)[0]
            _problem(info, f"implements {caller.name!r}, which is not a zoo hook. Did you mean {nearest!r}? "
                           "zoo never calls it")
        else:
            implemented.add(caller.name)
    for attribute in dir(plugin):
        close = difflib.get_close_matches(attribute, HOOKS, n=1, cutoff=0.85)
        function = getattr(plugin, attribute, None)
        if close and close[0] not in implemented and callable(function) and not _is_hookimpl(function):
            _problem(info, f"has a function {attribute!r} not marked with @zoo.hookimpl, so zoo never calls it; "
                           f"mark it{'' if attribute == close[0] else f' and name it {close[0]!r}'}")


def _is_hookimpl(function: object) -> bool:
    return hasattr(function, f"{ENTRY_POINT_GROUP}_impl")


def _call_hook(manager: pluggy.PluginManager, hook: str, order: list[str], registry: Registry,
               add: Callable[[Registry, str, object], None]) -> None:
    by_plugin: dict[str, list] = {}
    for impl in getattr(manager.hook, hook).get_hookimpls():
        by_plugin.setdefault(impl.plugin_name, []).append(impl)
    for name in order:
        for impl in by_plugin.get(name, []):
            _call_one(impl, hook, registry, add)


def _call_one(impl, hook: str, registry: Registry, add: Callable[[Registry, str, object], None]) -> None:
    """One implementation of ``hook``: nothing of it is kept if it raises; an entry zoo cannot take (an invalid
    record, a name another plugin holds) is refused on its own, and the implementation's other entries kept."""
    name, info = impl.plugin_name, registry.plugins[impl.plugin_name]
    staged: list = []
    try:
        impl.function(register=staged.append)
    except (Exception, SystemExit) as exc:
        where = hook if impl.function.__name__ == hook else f"{hook} ({impl.function.__name__})"
        lost = [spec.name for spec in staged if isinstance(spec, DatasetSpec | ModelSpec)]
        _problem(info, f"raised in {where}: {_raised(exc)}"
                       + (f"; so none of what it registered is kept ({', '.join(lost)})" if lost else ""))
        registry.dropped.update(dict.fromkeys(lost, f"plugin {name!r} raised in {where} after registering it"))
        return
    for spec in staged:
        try:
            add(registry, name, spec)
        except (InvalidSpecError, PluginConflictError) as exc:
            _problem(info, str(exc) if isinstance(exc, PluginConflictError) else f"registered {exc}")
            if isinstance(spec, DatasetSpec | ModelSpec):
                registry.dropped[spec.name] = f"plugin {name!r}'s entry was refused: {exc}"


def _raised(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"SystemExit({exc.code!r}): it called sys.exit(), which a plugin must not do; raise an exception instead"
    return f"{type(exc).__name__}: {exc}"


def _add_dataset(registry: Registry, plugin: str, spec: object) -> None:
    if not isinstance(spec, DatasetSpec):
        raise InvalidSpecError(f"a {type(spec).__name__} with register_datasets, not a zoo.DatasetSpec")
    _claim(registry, plugin, "dataset", spec.name)
    registry.datasets[spec.name] = spec
    registry.plugins[plugin].datasets.append(spec.name)


def _add_model(registry: Registry, plugin: str, spec: object) -> None:
    if not isinstance(spec, ModelSpec):
        raise InvalidSpecError(f"a {type(spec).__name__} with register_models, not a zoo.ModelSpec")
    if spec.dataset not in registry.datasets:
        left_out = sorted(p.name for p in registry.plugins.values() if p.skipped)
        raise InvalidSpecError(
            f"model {spec.name!r} naming dataset {spec.dataset!r}, which no loaded plugin registers."
            f"{did_you_mean(spec.dataset, registry.datasets)}"
            + (f" ZOO_PLUGINS leaves out {', '.join(left_out)}: add the dataset's plugin to it." if left_out else ""))
    dataset = registry.datasets[spec.dataset]
    if dataset.task != spec.task:
        raise InvalidSpecError(f"model {spec.name!r}, which outputs {spec.outputs} ({spec.task}), but dataset "
                               f"{dataset.name!r} is for {dataset.task}")
    if spec.target is not None and spec.target not in dataset.target_names:
        raise InvalidSpecError(f"model {spec.name!r} fitting target {spec.target!r}, which dataset "
                               f"{dataset.name!r} lacks (it has {', '.join(dataset.target_names) or 'none'})")
    _claim(registry, plugin, "model", spec.name)
    registry.models[spec.name] = spec
    registry.plugins[plugin].models.append(spec.name)


def _add_reference_set(registry: Registry, plugin: str, spec: object) -> None:
    if not isinstance(spec, ReferenceSet):
        raise InvalidSpecError(f"a {type(spec).__name__} with register_reference_sets, not a zoo.ReferenceSet")
    registry.reference_sets.append((plugin, spec))


def _claim(registry: Registry, plugin: str, kind: str, name: str) -> None:
    key = f"{kind}:{name}"
    if key not in registry.owners:
        registry.owners[key] = plugin
        return
    first = registry.plugins[registry.owners[key]]
    if first.name == plugin:
        raise InvalidSpecError(f"{kind} {name!r} twice")
    holder = (f"zoo's built-in plugin {first.name!r} (zoo keeps its own names)" if first.builtin else
              f"plugin {first.name!r} (the first by entry-point name keeps it)")
    raise PluginConflictError(f"registers {kind} {name!r}, which {holder} already has: refused. Rename it, or "
                              f"leave this plugin out with ZOO_PLUGINS=-{plugin}")


def _problem(info: PluginInfo, what: str) -> None:
    info.problems.append(what)
    warnings.warn(PluginWarning(f"plugin {info.name!r} {what}"), stacklevel=4)


@functools.cache
def load_registry() -> Registry:
    """The registry of every installed plugin, honouring ``ZOO_PLUGINS``; built once per process."""
    return build_registry(discover(), os.environ.get("ZOO_PLUGINS"))
