"""Time to target: the training time and steps a run takes to reach its entry's quality target.

DAWNBench and MLPerf Training time a model to a quality, not only its samples/s. ``TargetClock``
scores the held-out split at fixed intervals of training steps (``EVALUATIONS`` per run, on the
boundaries of Keras' backend calls) with the same headline metric as the final evaluation, and stops
scoring once the target is reached. Its clock runs only while training steps run: the scoring, and
Keras' own validation pass at epoch ends, are left out, as they are from the run's samples/s.
"""

from __future__ import annotations

import math
import time
from typing import Any

import keras

from zoo.evaluate import headline, predict
from zoo.execution import batches_per_epoch
from zoo.prepare import Prepared
from zoo.specs import ModelSpec, QualityTarget
from zoo.training import TrainSettings

EVALUATIONS = 10  # held-out scorings per run, evenly spaced in training steps


class TargetClock(keras.callbacks.Callback):
    """Scores ``data``'s test split every ``interval`` training steps until ``target`` is reached."""

    def __init__(self, spec: ModelSpec, target: QualityTarget, data: Prepared, steps_per_epoch: int,
                 total_steps: int):
        super().__init__()
        self.spec, self.target, self.data = spec, target, data
        self.steps_per_epoch, self.total_steps = steps_per_epoch, total_steps
        self.evaluations: list[tuple[int, float, float]] = []  # (step, training seconds, metric)
        self.reached: tuple[int, float] | None = None  # (step, training seconds)
        self.excluded_seconds = 0.0  # spent scoring; fit_model leaves it out of the run's training time

    def on_train_begin(self, logs=None):
        per_call = max(1, int(getattr(self.model, "steps_per_execution", 1) or 1))
        # Scorings fall where a backend call ends, so the interval is a whole number of calls.
        self.interval = per_call * max(1, math.ceil(self.total_steps / EVALUATIONS / per_call))
        self.next_at, self.seconds, self._since, self._epoch = self.interval, 0.0, None, 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch, self._since = epoch, time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        step = self._epoch * self.steps_per_epoch + batch + 1
        if self.reached is None and (step >= self.next_at or step >= self.total_steps):
            self._pause()
            self._score(step)
            self.next_at = (step // self.interval + 1) * self.interval
            self._since = time.perf_counter()

    def on_test_begin(self, logs=None):
        self._pause()

    def on_epoch_end(self, epoch, logs=None):
        self._pause()

    def _pause(self) -> None:
        if self._since is not None:
            self.seconds += time.perf_counter() - self._since
            self._since = None

    def _score(self, step: int) -> None:
        start = time.perf_counter()
        if hasattr(self.model, "jax_state_sync"):  # JAX keeps the weights it trains apart until told to sync
            self.model.jax_state_sync()
        value = headline(self.spec, self.data, predict(self.model, self.data.x_test))
        self.excluded_seconds += time.perf_counter() - start
        self.evaluations.append((step, self.seconds, value))
        if value >= self.target.value:
            self.reached = (step, self.seconds)

    def record(self) -> dict[str, Any]:
        """What report.json keeps under ``"time_to_target"``."""
        step, seconds = self.reached or (None, None)
        best = max((v for _, _, v in self.evaluations), default=None)
        return {"metric": self.target.metric, "target": self.target.value, "note": self.target.note,
                "reached": self.reached is not None, "seconds": seconds, "steps": step,
                "epochs": None if step is None else step / self.steps_per_epoch,
                "best": best, "interval_steps": self.interval, "total_steps": self.total_steps,
                "scoring_seconds": self.excluded_seconds,
                "evaluations": [{"step": s, "seconds": t, "value": v} for s, t, v in self.evaluations]}


def target_clock(spec: ModelSpec, data: Prepared, settings: TrainSettings) -> TargetClock | None:
    """The clock for ``spec``'s run as ``settings`` train it, or None when the entry has no quality target
    (``ModelSpec.time_target``)."""
    target = spec.time_target
    if target is None:
        return None
    steps = batches_per_epoch(data.n_train, settings.batch_size, settings.steps_per_epoch)
    return TargetClock(spec, target, data, steps, steps * settings.epochs)


def not_timed(spec: ModelSpec, why: str) -> dict[str, Any]:
    """The ``"time_to_target"`` record of a run that was not timed, saying why."""
    target = spec.time_target
    return {"metric": target.metric if target else None, "target": target.value if target else None,
            "reached": None, "not_timed": why}


def measure(name: str, *, seed: int = 0, device: str = "cpu", data_dir: str | None = None) -> dict[str, Any]:
    """Train ``name`` as ``zoo run`` does, timed to its quality target (the benchmark suite's time-to-target case):
    the clock's record without its scorings, plus ``samples_per_sec``, the samples trained until the target per
    second of training (None if it was not reached). ValueError when the entry has no target."""
    from zoo import environment
    from zoo.datasets import load_dataset
    from zoo.plugins import load_registry
    from zoo.prepare import prepare
    from zoo.training import train

    registry = load_registry()
    spec = registry.model(name)
    dataset = registry.dataset(spec.dataset)
    data = prepare(spec, dataset, load_dataset(dataset, data_dir))
    settings = TrainSettings.of(spec, seed=seed)
    clock = target_clock(spec, data, settings)
    if clock is None:
        raise ValueError(f"{name} has no quality target (ModelSpec.quality_target) and its tutorial reports no accuracy")
    train(spec, data, settings, device=device, verbose=0, callbacks=[clock])
    record = {k: v for k, v in clock.record().items() if k != "evaluations"}
    rate = record["steps"] * settings.batch_size / record["seconds"] if record["reached"] else None
    return {"model": name, "mode": "time_to_target", "device": device, "backend": environment.backend(), "seed": seed,
            "batch_size": settings.batch_size, **record, "samples_per_sec": rate}
