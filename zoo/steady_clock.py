"""The steady state of a Keras fit call: the time from the end of its first few steps to its end.

A fit call has a fixed start-up (Keras builds its iterator and callbacks, the first steps compile or
warm caches), which would weigh on small models' rates. zoo's benchmarks, and the plain scripts they
compare zoo with, time training from the end of the first WARM_STEPS steps instead. Imports only Keras,
so a plain script's process can use it without loading zoo's training path.
"""

from __future__ import annotations

import time

import keras

WARM_STEPS = 10  # steps of each round left out of its steady-state time (iterator start-up, first batches)


class SteadyClock(keras.callbacks.Callback):
    """Notes when the first backend call that ends at or after batch ``skip`` of a fit call ends, and how many
    steps had run by then: the start of the fit's steady state. (With several steps per call, Keras reports
    a batch end per call, numbered by the call's last batch.)

    ``async_safe``: it only reads a clock, so it leaves Keras' asynchronous batch-end dispatch on (JAX,
    torch) for both sides of the comparison, as a plain script without it would have it.
    """

    async_safe = True

    def __init__(self, skip: int):
        super().__init__()
        self.skip, self.start, self.steps_before, self.fit_start = skip, None, 0, 0.0

    def on_train_begin(self, logs=None):
        self.start, self.steps_before, self.fit_start = None, 0, time.perf_counter()

    def on_train_batch_end(self, batch, logs=None):
        if self.start is None and batch >= self.skip - 1:
            self.start, self.steps_before = time.perf_counter(), batch + 1

    def steady(self, steps: int, end: float) -> tuple[int, float]:
        """(steps, seconds) of the steady state of a fit call of ``steps`` steps that ended at ``end``: the
        whole call where no backend call ended after the skipped steps."""
        if self.start is None or self.steps_before >= steps:
            return steps, end - self.fit_start
        return steps - self.steps_before, end - self.start
