"""How many training steps one call into the Keras backend runs: ``steps_per_execution``.

Keras' default, one step per call, makes every batch pay a round trip through Python: the
backend call, the callback dispatch and, under TensorFlow, a host sync to read the batch's
logs. For the small entries that round trip costs more than the step itself. Running several
steps per call removes it without changing what is computed: the same batches in the same
order, one optimizer update per batch, the epoch's metrics accumulated over the same batches
(tests/test_train.py checks that the weights agree with one step per call).

What each backend does with it (Keras 3.15, ``keras/src/backend/*/trainer.py``):

- tensorflow: the steps run in a ``tf.while_loop`` inside one ``tf.function``; the loop stops
  early when the epoch's data runs out, so a last, partial call is exact.
- jax: a Python loop over the jitted single step, with no callback dispatch between steps.
- torch: refused ("steps_per_execution must be 1 with the PyTorch backend"), so zoo keeps 1.

Where an epoch is a fixed number of steps over a longer stream (``FitSettings.steps_per_epoch``),
Keras counts an epoch in whole calls, so the number must divide the epoch's steps, else each
epoch would train more steps than asked; ``choose`` picks a divisor.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from zoo.environment import backend

if TYPE_CHECKING:
    import keras

# Enough steps per call that the per-call cost vanishes for the smallest entries, few enough that
# Ctrl-C (honoured between calls) and the progress bar still answer within a fraction of a second.
MAX_STEPS = 64
# A step of at least this many training FLOPs takes milliseconds on a CPU, so the per-call cost
# (a fraction of a millisecond) no longer matters; and under TensorFlow on CPU the while loop keeps
# oneDNN's rewrites from the convolutions inside it: mnist_cnn (2.3 GFLOP a step) trained at 0.7x
# with 32 steps per call, mnist_mlp (0.16 GFLOP) at 1.5-1.8x (2-core CPU, TF 2.21, 2026-11-24).
HEAVY_STEP_FLOPS = 1e9


def batches_per_epoch(n_train: int, batch_size: int, steps_per_epoch: int | None) -> int:
    """How many batches (optimizer steps) one epoch trains."""
    return steps_per_epoch or math.ceil(n_train / batch_size)


def largest_divisor(n: int, at_most: int) -> int:
    """The largest divisor of ``n`` that is at most ``at_most`` (1 at least)."""
    return max(d for d in range(1, max(1, min(n, at_most)) + 1) if n % d == 0)


def choose(*, n_train: int, batch_size: int, steps_per_epoch: int | None, step_flops: float,
           requested: int | None = None, backend_name: str | None = None) -> int:
    """Steps per call for one fit: ``requested`` (an entry's own choice) where the backend allows it,
    else 1 for heavy steps, else as many as fit in an epoch up to MAX_STEPS (a divisor of the epoch's
    steps when the epoch is a fixed number of steps over a stream)."""
    if (backend_name or backend()) == "torch":
        return 1
    epoch = batches_per_epoch(n_train, batch_size, steps_per_epoch)
    if requested is not None:
        wanted = requested
    elif step_flops >= HEAVY_STEP_FLOPS:
        return 1
    else:
        wanted = MAX_STEPS
    return largest_divisor(epoch, wanted) if steps_per_epoch else max(1, min(wanted, epoch))


def apply(model: keras.Model, steps: int) -> None:
    """Make ``model`` run ``steps`` training steps per backend call from its next ``fit`` on.

    Set on the compiled model rather than passed to ``compile``, so a saved ``model.keras`` keeps
    Keras' default in its compile config and loads under every backend (torch refuses more than 1).
    The cached train/test/predict functions are dropped when the number changes, as ``compile`` does,
    since TensorFlow fixes the number when it traces them.
    """
    if model.steps_per_execution != steps:
        model.steps_per_execution = steps
        model.train_function = model.test_function = model.predict_function = None
