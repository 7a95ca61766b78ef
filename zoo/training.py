"""Compiling and training a model as its ModelSpec says, with plain Keras ``fit``.

Backend-neutral: Keras 3 APIs and numpy only, so the same path runs under the
tensorflow, jax and torch backends.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import keras
import numpy as np

from zoo import execution, files, interrupts
from zoo.build import check_fits, compile_model
from zoo.devices import Device, resolve_device
from zoo.errors import TrainingError
from zoo.precision import FLOAT32, check, to_float32
from zoo.prepare import Prepared
from zoo.seeding import set_seed
from zoo.specs import ModelSpec

if TYPE_CHECKING:
    from zoo.registry import PluginInfo


@dataclass(frozen=True)
class TrainSettings:
    """A run's settings: the spec's fit settings, with any overrides applied."""

    epochs: int
    batch_size: int
    steps_per_epoch: int | None
    validate: bool
    seed: int = 0
    steps_per_execution: int | None = None  # training steps per backend call; None: zoo.execution.choose
    precision: str = FLOAT32  # what training computes in (zoo.precision); the trained model is float32 either way

    @classmethod
    def of(cls, spec: ModelSpec, *, epochs: int | None = None, batch_size: int | None = None,
           seed: int = 0, validate: bool | None = None, steps_per_execution: int | None = None,
           precision: str = FLOAT32) -> TrainSettings:
        """``spec.fit`` with the given overrides (None keeps the spec's value)."""
        fit = spec.fit
        return cls(epochs or fit.epochs, batch_size or fit.batch_size, fit.steps_per_epoch,
                   fit.validate if validate is None else validate, seed,
                   steps_per_execution or fit.steps_per_execution, check(precision))

    def samples_per_epoch(self, n_train: int) -> int:
        """How many samples one epoch trains on."""
        return self.steps_per_epoch * self.batch_size if self.steps_per_epoch else n_train


@dataclass
class TrainResult:
    """A trained model and what its training measured."""

    model: keras.Model
    settings: TrainSettings
    device: Device | None
    history: dict[str, list[float]] = field(default_factory=dict)
    train_samples: int = 0  # samples trained on, all epochs together
    train_seconds: float = 0.0  # time in training steps (validation excluded), first-epoch compile included
    wall_seconds: float = 0.0  # the whole fit call, validation included
    resumed_from_epoch: int = 0  # epochs an interrupted run had finished before this one resumed it
    dropped_train_samples: int = 0  # rows left out so every batch splits evenly over the devices (data-parallel)
    steps_per_execution: int = 1  # training steps per backend call (zoo.execution)

    @property
    def samples_per_sec(self) -> float:
        """Training throughput over the training steps."""
        return self.train_samples / self.train_seconds if self.train_seconds else 0.0


class TrainingTimer(keras.callbacks.Callback):
    """Times the training steps of each epoch, leaving out the validation pass inside ``fit``."""

    def on_train_begin(self, logs=None):
        self.seconds, self._start = 0.0, None

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_test_begin(self, logs=None):
        self._stop()

    def on_epoch_end(self, epoch, logs=None):
        self._stop()

    def _stop(self):
        if self._start is not None:
            self.seconds += time.perf_counter() - self._start
            self._start = None


class StopWhenInterrupted(keras.callbacks.Callback):
    """Lets a deferred Ctrl-C or SIGTERM (``zoo.interrupts``) stop ``fit`` after the current batch.

    The signal handler sets ``model.stop_training`` through the function registered here, so no
    per-batch hook runs (one would turn off Keras' asynchronous callback dispatch).
    """

    def on_train_begin(self, logs=None):
        interrupts.on_signal(self._stop)
        if interrupts.pending():  # arrived before fit started, which resets stop_training
            self._stop()

    def on_train_end(self, logs=None):
        interrupts.on_signal(None)

    def _stop(self):
        self.model.stop_training = True


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training after an epoch whose loss is NaN or infinite.

    Checked per epoch, not per batch as keras.callbacks.TerminateOnNaN does: reading the loss
    after every batch makes the host wait for the device at each step and turns off Keras'
    asynchronous callback dispatch, a cost on GPUs and for small models. A diverged epoch
    still runs to its end, which costs little next to what it saves.
    """

    def on_epoch_end(self, epoch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.model.stop_training = True


def shuffled_stream(n: int, count: int, rng: np.random.Generator, carry: np.ndarray | None = None
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The next ``count`` row indices of an endless stream of fresh permutations of ``n`` rows,
    continuing from ``carry`` (indices left over from the last call); returns (indices, new carry)."""
    carry = np.empty(0, dtype=np.int64) if carry is None else carry
    passes = max(0, math.ceil((count - len(carry)) / n))
    stream = np.concatenate([carry, *(rng.permutation(n) for _ in range(passes))])
    return stream[:count], stream[count:]


class RepeatedBatches(keras.utils.PyDataset):
    """Batches from the training set shuffled and repeated without end, ``steps`` per epoch.

    The backend-neutral equivalent of tf.data's ``repeat().shuffle().batch()``: an endless
    stream of fresh permutations, cut into batches that may span two passes. Used when the
    stream of a whole run is too large to lay out in memory (see ``_fit_inputs``).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, steps: int, seed: int):
        super().__init__()
        self.x, self.y, self.batch_size, self.steps = x, y, batch_size, steps
        self._rng = np.random.default_rng(seed)
        self._carry, self._part, self._drawn = None, None, 0
        self._epoch, self._started = 0, False

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int):
        # Keyed by epoch number, so Keras reading a batch ahead of training (to learn its shapes)
        # does not use up part of the stream.
        while self._drawn <= self._epoch:
            self._part, self._carry = shuffled_stream(len(self.x), self.steps * self.batch_size, self._rng,
                                                      self._carry)
            self._drawn += 1
        rows = self._part[index * self.batch_size:(index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def on_epoch_begin(self):
        self._epoch += self._started
        self._started = True


# A run's whole repeated stream is laid out as arrays up to this size; above it, batches are drawn on the fly.
STREAM_BYTES = 256 << 20


def train(spec: ModelSpec, data: Prepared, settings: TrainSettings, *, device: str | Device = "auto",
          verbose: str | int = "auto", callbacks: list | None = None, backup_dir: Path | None = None,
          plugin: PluginInfo | None = None) -> TrainResult:
    """Build, compile and fit ``spec``'s model on ``data``; stop with TrainingError if the loss turns NaN.

    Before training, ``zoo.build.check_fits`` makes sure the model fits the data as declared
    (``plugin`` is named in its message). ``zoo.distributed.train.train_distributed`` is the same
    under a data-parallel engine.

    With ``backup_dir``, training state is saved there after every epoch (Keras' BackupAndRestore)
    and, if an interrupted run left state there, training resumes from its last finished epoch.
    The folder is removed when training completes.
    """
    device = device if isinstance(device, Device) else resolve_device(device)
    set_seed(settings.seed)
    callbacks = list(callbacks or [])
    earlier: dict[str, list[float]] = {}
    if backup_dir is not None:
        earlier = read_history(backup_dir)
        callbacks.append(EpochBackup(backup_dir, earlier))
    with keras.device(device.keras_name), interrupts.deferred():
        model = compile_model(spec, plugin, settings.precision)
        check_fits(spec, model, data, plugin)
        try:
            result = fit_model(model, data, settings, verbose=verbose, callbacks=callbacks)
        except Exception as exc:  # a plugin's model or data can fail inside Keras in ways no check foresaw
            raise TrainingError(f"training stopped inside Keras: {type(exc).__name__}: "
                                f"{(str(exc).strip().splitlines() or [''])[0][:300]}; the model or its data does not "
                                "suit its compile and fit settings (zoo --verbose shows the traceback)") from exc
    if backup_dir is not None:
        shutil.rmtree(backup_dir, ignore_errors=True)  # training ran to its end: nothing to resume
    to_float32(result.model)  # evaluated, saved and exported as float32, whatever precision trained it
    result.device = device
    result.resumed_from_epoch = len(earlier.get("loss", []))
    result.history = {k: earlier.get(k, [math.nan] * result.resumed_from_epoch) + v
                      for k, v in result.history.items()}
    check_finite(spec, result)
    return result


HISTORY_FILE = "history.json"


class EpochBackup(keras.callbacks.BackupAndRestore):
    """Keras' BackupAndRestore, saving only epochs that ran to their end, with their metrics.

    An epoch cut short by Ctrl-C or SIGTERM is not recorded as done, and the backup is kept when
    training stops that way (``train`` removes it once training has run to its end), so
    ``--resume`` continues from the last whole epoch. The metrics of finished epochs are kept
    beside the weights, so a resumed run reports its whole history. ``double_checkpoint``: a kill
    during a save leaves the previous epoch's state to resume from.
    """

    def __init__(self, backup_dir: Path, earlier: dict[str, list[float]]):
        super().__init__(str(backup_dir), double_checkpoint=True, delete_checkpoint=False)
        self.history_path = backup_dir / HISTORY_FILE
        self.history = {k: list(v) for k, v in earlier.items()}

    def on_epoch_end(self, epoch, logs=None):
        if interrupts.pending():
            return
        super().on_epoch_end(epoch, logs)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))
        files.write_json(self.history_path, files.finite(self.history))


def read_history(backup_dir: Path) -> dict[str, list[float]]:
    """The metrics of the epochs a backup holds, as many as Keras' own record says it saved.

    An epoch whose metrics a crash kept from being written shows as NaN (None in reports).
    """
    try:
        epochs = int(json.loads((backup_dir / "training_metadata.json").read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    try:
        raw = json.loads((backup_dir / HISTORY_FILE).read_text())
    except (OSError, ValueError):
        raw = {"loss": []}
    return {k: ([math.nan if v is None else float(v) for v in vs] + [math.nan] * epochs)[:epochs]
            for k, vs in raw.items()}


def fit_model(model: keras.Model, data: Prepared, settings: TrainSettings, *, verbose: str | int = "auto",
              callbacks: list | None = None) -> TrainResult:
    """Fit a compiled ``model`` as ``settings`` say: the one ``fit`` call behind ``zoo run`` and the benchmarks."""
    timer = TrainingTimer()
    inputs, fit_kwargs = _fit_inputs(data, settings)
    steps_per_call = steps_per_execution(model, data, settings)
    execution.apply(model, steps_per_call)
    validation = (data.x_test, data.y_test) if settings.validate else None
    start = time.perf_counter()
    history = model.fit(*inputs, epochs=settings.epochs, validation_data=validation, verbose=verbose,
                        callbacks=[timer, StopOnNonFiniteLoss(), StopWhenInterrupted(), *(callbacks or [])],
                        **fit_kwargs)
    wall = time.perf_counter() - start
    epochs_done = len(history.history.get("loss", []))
    # A callback that works inside an epoch (zoo.time_to_target's scoring) says how long, so it is left out too.
    outside = sum(getattr(callback, "excluded_seconds", 0.0) for callback in callbacks or [])
    return TrainResult(model, settings, None, {k: [float(v) for v in vs] for k, vs in history.history.items()},
                       settings.samples_per_epoch(data.n_train) * epochs_done, timer.seconds - outside, wall,
                       steps_per_execution=steps_per_call)


def steps_per_execution(model: keras.Model, data: Prepared, settings: TrainSettings) -> int:
    """How many training steps each backend call of ``fit_model`` runs (``zoo.execution.choose``)."""
    from zoo.flops import training_flops

    try:
        step_flops = training_flops(model) * settings.batch_size
    except (AttributeError, ValueError):  # a subclassed model's layers have no symbolic outputs to count
        step_flops = math.inf  # cost unknown: keep Keras' one step per call
    return execution.choose(n_train=data.n_train, batch_size=settings.batch_size,
                            steps_per_epoch=settings.steps_per_epoch, step_flops=step_flops,
                            requested=settings.steps_per_execution)


def _fit_inputs(data: Prepared, settings: TrainSettings) -> tuple[tuple, dict]:
    if not settings.steps_per_epoch:
        return (data.x_train, data.y_train), {"batch_size": settings.batch_size, "shuffle": True}
    total = settings.epochs * settings.steps_per_epoch * settings.batch_size
    row_bytes = data.x_train[:1].nbytes + data.y_train[:1].nbytes
    if total * row_bytes > STREAM_BYTES:
        return (RepeatedBatches(data.x_train, data.y_train, settings.batch_size, settings.steps_per_epoch,
                                settings.seed),), {}
    # The same stream as arrays, which Keras feeds far faster than a PyDataset (about 20% on Iris):
    # with steps_per_epoch set, fit keeps reading arrays where the last epoch stopped, so the stream
    # plays through in order (tests/test_train.py checks this Keras behaviour).
    rows, _ = shuffled_stream(len(data.x_train), total, np.random.default_rng(settings.seed))
    return (data.x_train[rows], data.y_train[rows]), {"batch_size": settings.batch_size,
                                                      "steps_per_epoch": settings.steps_per_epoch,
                                                      "shuffle": False}


def check_finite(spec: ModelSpec, result: TrainResult) -> None:
    """TrainingError (with the result attached) when the loss of this call's epochs is NaN or infinite."""
    losses = result.history.get("loss", [])[result.resumed_from_epoch:]  # this call's epochs
    epochs_done = result.resumed_from_epoch + len(losses)
    if epochs_done < result.settings.epochs or any(not math.isfinite(v) for v in losses):
        error = TrainingError(f"loss became NaN or infinite in epoch {max(epochs_done, 1)} of "
                              f"{result.settings.epochs}; training stopped and nothing was exported. "
                              "Try a lower learning rate or check the data for NaN values")
        error.result = result
        raise error
