"""The registry: every dataset and model the plugins registered, and which plugin gave what."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Any

from zoo.errors import UnknownNameError, did_you_mean
from zoo.specs import DatasetSpec, ModelSpec, ReferenceSet


@dataclass
class PluginInfo:
    """One plugin as loaded: its distribution, what it registered, and what went wrong."""

    name: str  # the entry point's name
    package: str | None = None  # the distribution that declares it, e.g. "zoo-iris-wide"
    version: str | None = None
    builtin: bool = False  # shipped with zoo itself
    datasets: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # one line each, as warned
    skipped: bool = False  # left out by ZOO_PLUGINS

    @property
    def error(self) -> str | None:
        """Everything that went wrong, in one line, or None."""
        return "; ".join(self.problems) or None

    @property
    def status(self) -> str:
        """'ok'; 'failed' (problems, nothing registered); 'partial' (problems, some entries kept); 'skipped'."""
        if self.skipped:
            return "skipped"
        if not self.problems:
            return "ok"
        return "partial" if self.datasets or self.models else "failed"

    def describe(self) -> str:
        """``plugin 'name' (distribution version)``, for messages that trace a problem to its code."""
        dist = " ".join(v for v in (self.package, self.version) if v)
        return f"plugin {self.name!r}" + (f" ({dist})" if dist else "")


@dataclass
class Registry:
    """Datasets and models by name, with the plugin that registered each."""

    datasets: dict[str, DatasetSpec] = field(default_factory=dict)
    models: dict[str, ModelSpec] = field(default_factory=dict)
    plugins: dict[str, PluginInfo] = field(default_factory=dict)
    owners: dict[str, str] = field(default_factory=dict)  # "model:NAME" / "dataset:NAME" -> plugin
    dropped: dict[str, str] = field(default_factory=dict)  # a name a plugin tried to register -> why it is not here
    reference_sets: list[tuple[str, ReferenceSet]] = field(default_factory=list)  # (plugin, set), in load order
    found: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)  # what other modules work out once

    def model(self, name: str) -> ModelSpec:
        """The model called ``name``; an unknown name raises with the closest names."""
        if name not in self.models and name in self.dropped:
            raise UnknownNameError(f"model {name!r} is not registered: {self.dropped[name]}; 'zoo plugins' shows "
                                   "every plugin's problems")
        if name not in self.models:
            raise UnknownNameError(f"unknown model {name!r}.{did_you_mean(name, self.models)}"
                                   " Run 'zoo list' to see every model.")
        return self.models[name]

    def dataset(self, name: str) -> DatasetSpec:
        """The dataset called ``name``; an unknown name raises with the closest names."""
        if name not in self.datasets:
            raise UnknownNameError(f"unknown dataset {name!r}.{did_you_mean(name, self.datasets)}"
                                   " Run 'zoo datasets' to see every dataset.")
        return self.datasets[name]

    def plugin(self, name: str) -> PluginInfo:
        """The plugin called ``name``; an unknown name raises with the closest names."""
        if name not in self.plugins:
            raise UnknownNameError(f"unknown plugin {name!r}.{did_you_mean(name, self.plugins)}"
                                   " Run 'zoo plugins' to see every plugin.")
        return self.plugins[name]

    def owner(self, spec: ModelSpec | DatasetSpec) -> str:
        """The name of the plugin that registered ``spec``."""
        kind = "model" if isinstance(spec, ModelSpec) else "dataset"
        return self.owners[f"{kind}:{spec.name}"]

    def list_models(self, pattern: str | None = None, *, dataset: str | None = None,
                    task: str | None = None, tag: str | None = None, plugin: str | None = None) -> list[ModelSpec]:
        """Models whose names match the fnmatch ``pattern`` (``*`` if none), filtered, sorted by name.

        A filter naming a dataset or plugin that does not exist raises with the closest names,
        so a typo is not mistaken for an empty result.
        """
        if dataset is not None:
            self.dataset(dataset)
        if plugin is not None:
            self.plugin(plugin)
        if task is not None and task not in ("classification", "regression"):
            raise UnknownNameError(f"unknown task {task!r}; use 'classification' or 'regression'.")
        found = []
        for name in sorted(self.models):
            spec = self.models[name]
            if pattern and not fnmatch.fnmatchcase(name, pattern):
                continue
            if dataset and spec.dataset != dataset:
                continue
            if task and spec.task != task:
                continue
            if tag and tag not in spec.tags:
                continue
            if plugin and self.owner(spec) != plugin:
                continue
            found.append(spec)
        return found

    def select(self, names: list[str]) -> list[ModelSpec]:
        """The models named, where each name may be an fnmatch pattern; unknown names raise."""
        chosen: dict[str, ModelSpec] = {}
        for name in names:
            matches = self.list_models(name) if any(c in name for c in "*?[") else [self.model(name)]
            if not matches:
                raise UnknownNameError(f"no model matches {name!r}. Run 'zoo list' to see every model.")
            chosen.update((m.name, m) for m in matches)
        return list(chosen.values())
