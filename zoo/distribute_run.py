"""``zoo run NAME --distribute data-parallel``: ``zoo.run.run_model`` with every worker training and only
the chief writing.

Every worker loads the data and trains; the chief then evaluates the plain copy of the model and
writes ``model.keras``, the validated ONNX export, the report (with a ``"distribution"`` record) and
the manifest entry, through the same staging folder as a single-process run. The other workers write
nothing into the output folder (their resume backups live in a folder of their own).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from zoo import files
from zoo.datasets import load_dataset
from zoo.distribute import setup_distribution
from zoo.distribute_train import DistributedTraining, train_distributed, worker_backup_folder
from zoo.distribution import DistributeSettings, Distribution
from zoo.errors import TrainingError, ZooError
from zoo.evaluate import evaluate
from zoo.export import update_manifest
from zoo.plugins import load_registry
from zoo.prepare import prepare
from zoo.registry import Registry
from zoo.report import build_report
from zoo.run import Run, RunOptions, _writable, resume_folder, write_artifacts, write_failure
from zoo.train import TrainSettings


@dataclass
class DistributedRun:
    """What one worker did: the distribution, its training, and (on the chief) the saved ``Run``."""

    distribution: Distribution
    trained: DistributedTraining
    run: Run | None  # None on every worker but the chief: they write nothing


def run_distributed(name: str, options: RunOptions, settings: DistributeSettings,
                    registry: Registry | None = None, distribution: Distribution | None = None) -> DistributedRun:
    """Train ``name`` data-parallel on every worker; on the chief, evaluate and save it as ``run_model`` does.

    ``distribution`` (default: set up here from ``settings``) must be set up before anything in the
    process has run TensorFlow or JAX.
    """
    distribution = distribution or setup_distribution(settings, device=options.device)
    registry = registry or load_registry()
    spec = registry.model(name)
    dataset = registry.dataset(spec.dataset)
    folder = Path(options.out) / spec.name
    if distribution.is_chief:
        _writable(folder)
    backup = resume_folder(worker_backup_folder(folder, distribution), options.resume)
    splits = load_dataset(dataset, options.data_dir)
    data = prepare(spec, dataset, splits)
    train_settings = TrainSettings.of(spec, epochs=options.epochs, batch_size=options.batch_size, seed=options.seed)
    try:
        trained = train_distributed(spec, data, train_settings, distribution, verbose=options.verbose,
                                    backup_dir=backup)
    except TrainingError as exc:
        if not distribution.is_chief:
            raise
        raise TrainingError(f"{exc} (details: {write_failure(folder, spec, exc)})") from exc
    if not distribution.is_chief:
        return DistributedRun(distribution, trained, None)
    evaluation = evaluate(spec, dataset, trained.result.model, data)
    report = build_report(spec, dataset, splits, trained.result, evaluation, plugin=registry.owner(spec))
    report["distribution"] = {**distribution.record(train_settings.batch_size),
                              "dropped_train_samples": trained.dropped_train_samples}
    result = Run(spec, dataset, splits, data, trained.result.model, evaluation, report, folder, trained.result)
    try:
        with files.staged_folder(folder) as staging:
            written = write_artifacts(result, staging)
    except OSError as exc:
        raise ZooError(f"cannot write the export of {spec.name} to {folder}: {exc.strerror or exc}; nothing there "
                       "was changed. Free some disk space or choose another --out") from exc
    result.paths = {key: folder / file for key, file in written.items()}
    update_manifest(folder, result.report)
    return DistributedRun(distribution, trained, result)
