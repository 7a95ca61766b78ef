"""One entry end to end: load its data, train, evaluate, save the model and its report.

The CLI's ``zoo run``, the benchmarks and the tests all come through here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from zoo import files
from zoo.datasets import load_dataset
from zoo.evaluate import Evaluation, evaluate
from zoo.plugins import load_registry
from zoo.prepare import Prepared, prepare
from zoo.registry import Registry
from zoo.report import build_report, write_report
from zoo.specs import DatasetSpec, ModelSpec
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
class RunResult:
    """What one run produced: the trained model, its scores, its report and where it was saved."""

    spec: ModelSpec
    dataset: DatasetSpec
    data: Prepared
    trained: TrainResult
    evaluation: Evaluation
    report: dict[str, Any]
    folder: Path
    paths: dict[str, Path] = field(default_factory=dict)


def run_model(name: str, options: RunOptions = RunOptions(), registry: Registry | None = None) -> RunResult:
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
    result = RunResult(spec, dataset, data, trained, evaluation, report, folder)
    # Everything is written into a staging folder that replaces the entry's folder only when
    # complete: an interrupted or failed run leaves the previous export as it was.
    with files.staged_folder(folder) as staging:
        written = write_artifacts(result, staging)
    result.paths = {key: folder / name for key, name in written.items()}
    return result


def write_artifacts(result: RunResult, folder: Path) -> dict[str, str]:
    """Write every file of a run into ``folder``; returns {kind: file name}."""
    written = {"model": save_model(result.trained.model, folder / "model.keras").name}
    json_path, md_path = write_report(result.report, folder)
    written["report_json"], written["report_md"] = json_path.name, md_path.name
    return written


def save_model(model, dest: Path) -> Path:
    """Save ``model`` in the native ``.keras`` format, atomically."""
    with files.atomic_path(dest) as tmp:
        model.save(tmp)
    return dest
