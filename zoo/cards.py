"""Model cards: one typed record per entry, read from reports, the way torchvision's ``Weights.meta`` reads.

A card puts the entry's headline metric beside the tutorial's number, the reference result shipped
with zoo and the user's latest run, with the network's size, its ONNX file and how it was trained.
``zoo list``, ``zoo info`` and ``zoo plugins`` show cards. Building one reads JSON only; an entry with
no report anywhere (a plugin's model never run) is built to count its parameters.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from zoo import locations
from zoo.registry import PluginInfo
from zoo.report import read_report
from zoo.specs import ModelSpec


@dataclass(frozen=True)
class Result:
    """One run's headline result and where its files are."""

    value: float | None
    test_samples: int | None
    folder: Path
    created: str | None
    params: int | None
    macs: int | None
    train_samples_per_sec: float | None
    backend: str | None
    onnx: dict[str, Any] | None  # {"file", "sha256", "bytes"}, or {"failed"/"skipped": reason}, or None
    macs_uncounted: tuple[str, ...] = ()  # layers with weights that "macs" leaves out


@dataclass(frozen=True)
class ModelCard:
    """Everything worth knowing about one entry before using it."""

    name: str
    description: str
    dataset: str
    task: str
    tags: tuple[str, ...]
    plugin: str
    distribution: str | None
    version: str | None
    builtin: bool  # one of zoo's own entries, which the reference set covers
    tutorial_title: str
    tutorial_source: str
    metric: str  # the headline metric: accuracy (classification) or r2 (regression)
    tutorial_metric: str  # what the tutorial reports
    tutorial_value: float | None
    tutorial_note: str
    reference: Result | None  # the reference run shipped with zoo
    latest: Result | None  # the user's latest run
    params: int | None
    macs: int | None
    preprocessing: str
    epochs: int
    batch_size: int
    steps_per_epoch: int | None
    optimizer: Any
    loss: Any
    build_error: str | None = None  # why build() failed, when the card had to build the model

    @property
    def macs_uncounted(self) -> tuple[str, ...]:
        """Layers with weights whose arithmetic ``macs`` leaves out, as the run that counted it found them."""
        return next((r.macs_uncounted for r in (self.reference, self.latest) if r and r.macs), ())

    @property
    def onnx_file(self) -> Path | None:
        """The reference export's ``model.onnx``, else the latest run's, or None."""
        for result in (self.reference, self.latest):
            if result and result.onnx and "file" in result.onnx:
                return result.folder / result.onnx["file"]
        return None

    @property
    def tutorial_in_metric(self) -> float | None:
        """The tutorial's number when it is on the headline metric, else None."""
        return self.tutorial_value if self.tutorial_metric == self.metric else None

    def as_json(self) -> dict[str, Any]:
        """A JSON-ready dict (paths as strings)."""
        return _jsonable({**asdict(self), "onnx_file": self.onnx_file})

    def _repr_html_(self) -> str:
        from zoo.web.notebook import card_html

        return card_html(self)


def headline_metric(spec: ModelSpec) -> str:
    """The metric an entry is ranked by: accuracy for classifiers, R² for regressors."""
    return "accuracy" if spec.task == "classification" else "r2"


def make_card(spec: ModelSpec, plugin: PluginInfo, *, out: str | Path | None = None, build: bool = True) -> ModelCard:
    """The card of ``spec``: the reference run its plugin ships, the latest run under ``out``, its facts."""
    from zoo.plugins import load_registry
    from zoo.reference_sets import reference_root

    shipped = reference_root(spec.name, load_registry())
    reference = _result(shipped / spec.name, spec, plugin) if shipped else None
    latest = _result(Path(out) / spec.name if out is not None else locations.runs_dir() / spec.name, spec, plugin,
                     count_again_if_changed=True)
    params = next((r.params for r in (reference, latest) if r and r.params), None)
    macs = next((r.macs for r in (reference, latest) if r and r.macs), None)
    build_error = None
    if params is None and build:
        params, macs, build_error = _count(spec, plugin)
    fit = spec.fit
    return ModelCard(
        name=spec.name, description=spec.description, dataset=spec.dataset, task=spec.task, tags=spec.tags,
        plugin=plugin.name, distribution=plugin.package, version=plugin.version, builtin=plugin.builtin,
        tutorial_title=spec.tutorial.title, tutorial_source=spec.tutorial.source,
        metric=headline_metric(spec), tutorial_metric=spec.reference.metric, tutorial_value=spec.reference.value,
        tutorial_note=spec.reference.note, reference=reference, latest=latest, params=params, macs=macs,
        preprocessing=spec.preprocess.describe(), epochs=fit.epochs, batch_size=fit.batch_size,
        steps_per_epoch=fit.steps_per_epoch, optimizer=spec.compile.optimizer, loss=spec.compile.loss,
        build_error=build_error)


def stale_reason(report: dict[str, Any], spec: ModelSpec, plugin: PluginInfo) -> str | None:
    """Why a saved run is not a run of the entry registered now under its name (another plugin's model, another
    dataset or task), or None."""
    facts = {"plugin": (report.get("plugin"), plugin.name), "dataset": (report.get("dataset"), spec.dataset),
             "task": (report.get("task"), spec.task)}
    changed = [f"{key} {old!r}, now {new!r}" for key, (old, new) in facts.items() if old != new]
    return f"it was made by a different model of that name ({'; '.join(changed)})" if changed else None


def _result(folder: Path, spec: ModelSpec, plugin: PluginInfo, *, count_again_if_changed: bool = False
            ) -> Result | None:
    report = read_report(folder)
    if report is None or stale_reason(report, spec, plugin):
        return None
    training, env, onnx = report.get("training") or {}, report.get("environment") or {}, report.get("onnx")
    params = training.get("params")
    if count_again_if_changed and (report.get("package") or {}).get("version") != plugin.version:
        params = None  # the plugin changed since the user's run: count again rather than trust it
    return Result(
        value=(report.get("measured") or {}).get("value"), test_samples=(report.get("data") or {}).get("n_test"),
        folder=folder, created=report.get("created"), params=params, macs=training.get("macs") if params else None,
        train_samples_per_sec=training.get("train_samples_per_sec"), backend=env.get("backend"),
        macs_uncounted=tuple(training.get("macs_uncounted") or ()),
        onnx={k: onnx[k] for k in ("file", "sha256", "bytes", "failed", "skipped") if k in onnx} if onnx else None)


def _count(spec: ModelSpec, plugin: PluginInfo) -> tuple[int | None, int | None, str | None]:
    """Parameters and MACs of a freshly built model, or the one-line reason it cannot be built.

    Building starts TensorFlow, seconds on a small machine, so the outcome is kept in
    ``$ZOO_HOME/cache/model-facts.json`` for as long as the plugin's code file is unchanged.
    """
    key = _cache_key(spec, plugin)
    cache = _read_cache()
    if key in cache:
        return tuple(cache[key])
    facts = _build_and_count(spec, plugin)
    if key:
        _write_cache({**cache, key: list(facts)})
    return facts


def _build_and_count(spec: ModelSpec, plugin: PluginInfo) -> tuple[int | None, int | None, str | None]:
    from zoo.build import build_model
    from zoo.errors import ZooError
    from zoo.flops import forward_macs

    try:
        model = build_model(spec, plugin)
        return int(model.count_params()), forward_macs(model), None
    except ZooError as exc:
        return None, None, str(exc)
    except Exception as exc:  # a model that builds but cannot be counted (not built yet, say)
        return None, None, f"cannot count its parameters: {type(exc).__name__}: {exc}"


CACHE_FILE = "model-facts.json"


def _cache_key(spec: ModelSpec, plugin: PluginInfo) -> str | None:
    """The plugin's distribution, version, the model's name and its build() file with that file's mtime."""
    import sys

    module = sys.modules.get(getattr(spec.build, "__module__", ""), None)
    source = Path(getattr(module, "__file__", "") or "")
    try:
        stamp = source.stat().st_mtime_ns
    except OSError:
        return None
    return f"{plugin.package}|{plugin.version}|{spec.name}|{source}|{stamp}"


def _read_cache() -> dict[str, list]:
    import json

    try:
        cache = json.loads((locations.zoo_home() / "cache" / CACHE_FILE).read_text())
    except (OSError, ValueError):
        return {}
    return cache if isinstance(cache, dict) else {}


def _write_cache(cache: dict[str, list]) -> None:
    from zoo import files

    try:
        files.write_json(locations.zoo_home() / "cache" / CACHE_FILE, cache)
    except OSError:  # a read-only home: just build again next time
        pass


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value
