"""Compiling and training a model as its ModelSpec says, with plain Keras ``fit``.

Backend-neutral: Keras 3 APIs and numpy only, so the same path runs under the
tensorflow, jax and torch backends.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import keras
import numpy as np

from zoo.devices import Device, resolve_device
from zoo.errors import TrainingError
from zoo.prepare import Prepared
from zoo.specs import ModelSpec


@dataclass(frozen=True)
class TrainSettings:
    """A run's settings: the spec's fit settings, with any overrides applied."""

    epochs: int
    batch_size: int
    steps_per_epoch: int | None
    validate: bool
    seed: int = 0

    @classmethod
    def of(cls, spec: ModelSpec, *, epochs: int | None = None, batch_size: int | None = None,
           seed: int = 0, validate: bool | None = None) -> TrainSettings:
        """``spec.fit`` with the given overrides (None keeps the spec's value)."""
        fit = spec.fit
        return cls(epochs or fit.epochs, batch_size or fit.batch_size, fit.steps_per_epoch,
                   fit.validate if validate is None else validate, seed)

    def samples_per_epoch(self, n_train: int) -> int:
        """How many samples one epoch trains on."""
        return self.steps_per_epoch * self.batch_size if self.steps_per_epoch else n_train


@dataclass
class TrainResult:
    """A trained model and what its training measured."""

    model: keras.Model
    settings: TrainSettings
    device: Device
    history: dict[str, list[float]] = field(default_factory=dict)
    train_samples: int = 0  # samples trained on, all epochs together
    train_seconds: float = 0.0  # time in training steps (validation excluded), first-epoch compile included
    wall_seconds: float = 0.0  # the whole fit call, validation included

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


class RepeatedBatches(keras.utils.PyDataset):
    """Batches from the training set shuffled and repeated without end, ``steps`` per epoch.

    The backend-neutral equivalent of tf.data's ``repeat().shuffle().batch()``: an endless
    stream of fresh permutations, cut into batches that may span two passes.
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, batch_size: int, steps: int, seed: int):
        super().__init__()
        self.x, self.y, self.batch_size, self.steps = x, y, batch_size, steps
        self._rng = np.random.default_rng(seed)
        self._carry = np.empty(0, dtype=np.int64)
        self.on_epoch_end()

    def __len__(self) -> int:
        return self.steps

    def __getitem__(self, index: int):
        rows = self._epoch[index * self.batch_size:(index + 1) * self.batch_size]
        return self.x[rows], self.y[rows]

    def on_epoch_end(self):
        need = self.steps * self.batch_size
        passes = max(0, math.ceil((need - len(self._carry)) / len(self.x)))
        stream = np.concatenate([self._carry, *(self._rng.permutation(len(self.x)) for _ in range(passes))])
        self._epoch, self._carry = stream[:need], stream[need:]


def compile_model(spec: ModelSpec) -> keras.Model:
    """A fresh model built and compiled as ``spec`` says."""
    model = spec.build()
    model.compile(optimizer=keras.optimizers.get(spec.compile.optimizer),
                  loss=keras.losses.get(spec.compile.loss), metrics=list(spec.compile.metrics))
    return model


def train(spec: ModelSpec, data: Prepared, settings: TrainSettings, *, device: str | Device = "auto",
          verbose: str | int = "auto", callbacks: list | None = None) -> TrainResult:
    """Build, compile and fit ``spec``'s model on ``data``; stop with TrainingError if the loss turns NaN."""
    device = device if isinstance(device, Device) else resolve_device(device)
    keras.utils.set_random_seed(settings.seed)
    timer = TrainingTimer()
    inputs, fit_kwargs = _fit_inputs(data, settings)
    validation = (data.x_test, data.y_test) if settings.validate else None
    with keras.device(device.keras_name):
        model = compile_model(spec)
        start = time.perf_counter()
        history = model.fit(*inputs, epochs=settings.epochs, validation_data=validation, verbose=verbose,
                            callbacks=[timer, keras.callbacks.TerminateOnNaN(), *(callbacks or [])],
                            **fit_kwargs)
        wall = time.perf_counter() - start
    result = TrainResult(model, settings, device, {k: [float(v) for v in vs] for k, vs in history.history.items()},
                         settings.samples_per_epoch(data.n_train) * len(history.history.get("loss", [])),
                         timer.seconds, wall)
    _check_finite(spec, result)
    return result


def _fit_inputs(data: Prepared, settings: TrainSettings) -> tuple[tuple, dict]:
    if settings.steps_per_epoch:
        return (RepeatedBatches(data.x_train, data.y_train, settings.batch_size, settings.steps_per_epoch,
                                settings.seed),), {}
    return (data.x_train, data.y_train), {"batch_size": settings.batch_size, "shuffle": True}


def _check_finite(spec: ModelSpec, result: TrainResult) -> None:
    losses = result.history.get("loss", [])
    epochs_done = len(losses)
    if epochs_done < result.settings.epochs or any(not math.isfinite(v) for v in losses):
        raise TrainingError(f"{spec.name}: loss became NaN or infinite in epoch {max(epochs_done, 1)} of "
                            f"{result.settings.epochs}; training stopped and nothing was exported. "
                            "Try a lower learning rate or check the data for NaN values")
