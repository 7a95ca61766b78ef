"""Training an entry under a ``Distribution`` with zoo's own ``fit`` path, and the plain model the chief keeps.

The same ``compile_model`` / ``check_fits`` / ``fit_model`` / callbacks as ``zoo.training.train``, with four
differences:
the model is built, compiled and fitted inside the engine's scope; ``fit`` gets this worker's batch
size (``Distribution.batch``); under JAX each process feeds only its own rows, and every batch splits
evenly over the devices; and afterwards the weights (and optimizer state) are copied into a plain
model built outside any scope, which the chief evaluates, saves and exports on its own while the
other workers leave.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np

from zoo import interrupts
from zoo.build import check_fits, compile_model
from zoo.devices import Device
from zoo.distributed.engines import engine_errors, gather_ints
from zoo.distributed.distribution import Distribution, DistributionError
from zoo.environment import cpu_name
from zoo.prepare import Prepared
from zoo.seeding import set_seed
from zoo.specs import ModelSpec
from zoo.training import EpochBackup, TrainResult, TrainSettings, check_finite, fit_model, read_history

if TYPE_CHECKING:
    from zoo.registry import PluginInfo

WORKER_DIR_ENV = "ZOO_WORKER_DIR"  # where non-chief workers keep their resume backups (default: the temp folder)
# Keras 3.15's TensorFlow trainer runs several steps per backend call as a tf.while_loop that asks the
# iterator for a next batch in a tf.cond; under a tf.distribute strategy with more than one replica the graph
# fails at its first call ("You must feed a value for placeholder tensor 'while/body/.../cond/Placeholder'",
# keras-team/keras#19246, open; reproduced with MirroredStrategy over two logical CPUs, TF 2.21).
TF_ENGINES = ("MirroredStrategy", "MultiWorkerMirroredStrategy")


def steps_per_call_limit(engine: str | None, replicas: int) -> int | None:
    """The most training steps per backend call ``engine`` can run over ``replicas`` replicas; None: no limit."""
    return 1 if engine in TF_ENGINES and replicas > 1 else None


def rows_for_fit(distribution: Distribution, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The rows this worker feeds ``fit``: all of them, except under JAX, where the tail is cut to a multiple
    of the replicas (every batch, the last included, must split evenly over the devices) and each process
    takes every P-th row (its own share, the same number of rows and so of steps on every process)."""
    if not distribution.even_batches:
        return x, y
    keep = len(x) - len(x) % distribution.replicas
    step, start = distribution.workers, distribution.worker_index
    return x[:keep][start::step], y[:keep][start::step]


def data_for_fit(distribution: Distribution, data: Prepared) -> tuple[Prepared, int]:
    """``data`` as this worker feeds it to ``fit`` (training and validation rows), and how many training
    rows no worker trains on. Evaluation uses the full ``data`` on the chief."""
    x_train, y_train = rows_for_fit(distribution, data.x_train, data.y_train)
    x_test, y_test = rows_for_fit(distribution, data.x_test, data.y_test)
    dropped = data.n_train % distribution.replicas if distribution.even_batches else 0
    return dataclasses.replace(data, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test), dropped


def train_distributed(spec: ModelSpec, data: Prepared, settings: TrainSettings, distribution: Distribution, *,
                      verbose: str | int = "auto", callbacks: list | None = None, backup_dir: Path | None = None,
                      plugin: PluginInfo | None = None) -> TrainResult:
    """``zoo.training.train`` under ``distribution``: every worker calls it with the same arguments.

    ``settings.batch_size`` is the entry's batch size; the result's settings hold the global batch, its
    model is the plain local copy, and ``dropped_train_samples`` what no worker trained on.
    With ``backup_dir`` (each worker its own: ``worker_backup_folder``), training resumes from the
    epoch every worker's backup holds, and stops with a DistributionError if they disagree.
    """
    plan = distribution.batch(settings.batch_size)
    fit_data, dropped = data_for_fit(distribution, data)
    set_seed(settings.seed)
    callbacks, earlier = list(callbacks or []), {}
    with interrupts.deferred(), engine_errors(distribution):
        if backup_dir is not None:
            earlier = read_history(backup_dir)
            _check_same_epoch(distribution, len(earlier.get("loss", [])))
            callbacks.append(EpochBackup(backup_dir, earlier))
        # Checked on a plain model (a check's two samples need not split over the replicas), then seeded
        # again, so the trained model starts from the weights a single-device run starts from.
        check_fits(spec, compile_model(spec, plugin), data, plugin)
        set_seed(settings.seed)
        with distribution.scope():
            model = compile_model(spec, plugin, settings.precision)
            limit = steps_per_call_limit(distribution.engine, distribution.replicas)
            local = dataclasses.replace(settings, batch_size=plan.per_worker,
                                        steps_per_execution=limit or settings.steps_per_execution)
            result = fit_model(model, fit_data, local, verbose=verbose, callbacks=callbacks)
        result.model = local_copy(spec, model)
    distribution.finish()
    if backup_dir is not None:
        shutil.rmtree(backup_dir, ignore_errors=True)  # training ran to its end: nothing to resume
    result.settings = dataclasses.replace(settings, batch_size=plan.global_)
    epochs_done = len(result.history.get("loss", []))
    per_epoch = settings.steps_per_epoch * plan.global_ if settings.steps_per_epoch else data.n_train - dropped
    result.train_samples, result.device = per_epoch * epochs_done, replicas_device(distribution)
    result.resumed_from_epoch = len(earlier.get("loss", []))
    result.history = {k: earlier.get(k, [math.nan] * result.resumed_from_epoch) + v for k, v in result.history.items()}
    result.dropped_train_samples = dropped
    check_finite(spec, result)
    return result


def local_copy(spec: ModelSpec, model: keras.Model) -> keras.Model:
    """A plain model (no strategy, no sharding) with ``model``'s weights and optimizer state.

    Built outside every scope, so the chief can evaluate, save and export it alone: under a
    distribution those would be collectives every worker must join.
    """
    local = compile_model(spec)
    local.set_weights(model.get_weights())
    if model.optimizer.built:
        local.optimizer.build(local.trainable_variables)
        for mine, theirs in zip(local.optimizer.variables, model.optimizer.variables, strict=True):
            mine.assign(np.asarray(theirs.numpy()))
    return local


def replicas_device(distribution: Distribution) -> Device:
    """The ``Device`` a report records for a distributed run: the kind, the first device, and how many."""
    first = distribution.local_devices[0] if distribution.local_devices else "cpu:0"
    kind = "gpu" if "gpu" in first.lower() or "cuda" in first.lower() else "cpu"
    where = "logical CPU devices" if kind == "cpu" and distribution.logical_cpus else f"{kind} devices"
    name = (f"{distribution.replicas} replicas ({where}) on {distribution.workers} worker(s)"
            + (f", {cpu_name()}" if kind == "cpu" else ""))
    return Device(kind, first.split("/")[-1].lower().replace("device:", ""), name)


def worker_backup_folder(folder: Path, distribution: Distribution) -> Path:
    """Where this worker keeps its resume backup for the entry whose output folder is ``folder``.

    The chief: beside ``folder`` (as a single-process run). Other workers write nothing there: a folder
    of their own under ``$ZOO_WORKER_DIR`` (default: the temp folder), named after the output folder, so
    ``--resume`` on the same command finds it again. Pass the result to ``zoo.run.resume_folder``'s
    logic in place of ``folder``.
    """
    if distribution.is_chief:
        return folder
    base = Path(os.environ.get(WORKER_DIR_ENV) or tempfile.gettempdir()) / "zoo-workers"
    tag = hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:12]
    return base / f"{tag}-worker-{distribution.worker_index}-of-{distribution.workers}" / folder.name


def _check_same_epoch(distribution: Distribution, epochs_done: int) -> None:
    """Every worker must resume from the same epoch, or their steps (and collectives) would not line up."""
    found = gather_ints(distribution, epochs_done)
    if len(set(found)) > 1:
        held = ", ".join(f"worker {i}: {n}" for i, n in enumerate(found))
        raise DistributionError(f"--resume: the workers' backups hold different numbers of finished epochs ({held}); "
                                "run again without --resume")
