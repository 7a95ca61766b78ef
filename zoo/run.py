"""One entry end to end: load its data, train, evaluate, save the model and its report.

The CLI's ``zoo run``, the benchmarks and the tests all come through here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras

from zoo import files
from zoo.errors import ZooError
from zoo.datasets import load_dataset
from zoo.evaluate import Evaluation, evaluate
from zoo.plugins import load_registry
from zoo.prepare import Prepared, prepare
from zoo.registry import Registry
from zoo.report import build_report, read_report, write_report
from zoo.specs import DatasetSpec, ModelSpec, Splits
from zoo.train import TrainResult, TrainSettings, train

DEFAULT_OUT = Path("exports")


@dataclass(frozen=True)
class RunOptions:
    """What ``zoo run`` lets a user change; None keeps the model's own setting."""

    epochs: int | None = None
    batch_size: int | None = None
    seed: int = 0
    device: str = "auto"
    data_dir: str | Path | None = None
    out: Path = DEFAULT_OUT
    verbose: str | int = "auto"


@dataclass
class Run:
    """A trained entry: its spec, its data, the model, its scores and report, and its folder.

    ``run_model`` makes one by training; ``load_run`` makes one from an earlier run on disk
    (then ``trained`` is None and ``evaluation`` is computed again from the saved model).
    """

    spec: ModelSpec
    dataset: DatasetSpec
    splits: Splits
    data: Prepared
    model: keras.Model
    evaluation: Evaluation
    report: dict[str, Any]
    folder: Path
    trained: TrainResult | None = None
    paths: dict[str, Path] = field(default_factory=dict)


def run_model(name: str, options: RunOptions = RunOptions(), registry: Registry | None = None) -> Run:
    """Train and evaluate the model ``name``, then save ``model.keras`` and its report under ``options.out``."""
    registry = registry or load_registry()
    spec = registry.model(name)
    dataset = registry.dataset(spec.dataset)
    splits = load_dataset(dataset, options.data_dir)
    data = prepare(spec, dataset, splits)
    settings = TrainSettings.of(spec, epochs=options.epochs, batch_size=options.batch_size, seed=options.seed)
    trained = train(spec, data, settings, device=options.device, verbose=options.verbose)
    evaluation = evaluate(spec, dataset, trained.model, data)
    report = build_report(spec, dataset, splits, trained, evaluation, plugin=registry.owner(spec))
    folder = Path(options.out) / spec.name
    result = Run(spec, dataset, splits, data, trained.model, evaluation, report, folder, trained)
    # Everything is written into a staging folder that replaces the entry's folder only when
    # complete: an interrupted or failed run leaves the previous export as it was.
    with files.staged_folder(folder) as staging:
        written = write_artifacts(result, staging)
    result.paths = {key: folder / name for key, name in written.items()}
    return result


def write_artifacts(result: Run, folder: Path) -> dict[str, str]:
    """Write every file of a run into ``folder``; returns {kind: file name}."""
    written = {"model": save_model(result.model, folder / "model.keras").name}
    json_path, md_path = write_report(result.report, folder)
    written["report_json"], written["report_md"] = json_path.name, md_path.name
    return written


def save_model(model, dest: Path) -> Path:
    """Save ``model`` in the native ``.keras`` format, atomically."""
    with files.atomic_path(dest) as tmp:
        model.save(tmp)
    return dest


def load_run(name: str, out: str | Path = DEFAULT_OUT, data_dir: str | Path | None = None,
             registry: Registry | None = None) -> Run:
    """The earlier run of ``name`` saved under ``out``: its model (loaded in Keras' safe mode), its report,
    and the test data it is scored on, scored again."""
    registry = registry or load_registry()
    spec = registry.model(name)
    dataset = registry.dataset(spec.dataset)
    folder = Path(out) / spec.name
    report = read_report(folder)
    model_path = folder / "model.keras"
    if report is None or not model_path.is_file():
        raise ZooError(f"no finished run of {name!r} in {folder} (model.keras and report.json are needed); "
                       f"run 'zoo run {name} --out {out}' first")
    try:
        model = keras.saving.load_model(model_path, safe_mode=True)
    except Exception as exc:  # Keras raises many kinds for a damaged or foreign file
        raise ZooError(f"{model_path}: cannot load the saved model ({type(exc).__name__}: {exc}); "
                       f"run 'zoo run {name}' again") from exc
    splits = load_dataset(dataset, data_dir)
    data = prepare(spec, dataset, splits)
    return Run(spec, dataset, splits, data, model, evaluate(spec, dataset, model, data), report, folder)
