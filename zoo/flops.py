"""Arithmetic cost of a model, counted from its layers' kernels (as timm reports GMACs)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras


def forward_macs(model: keras.Model) -> int:
    """Multiply-accumulates one sample's forward pass needs.

    Every layer with a ``kernel`` (Dense, ConvND, including Dense on sequences) does one MAC per
    kernel weight per output position: ``prod(kernel.shape) * prod(output spatial dims)``.
    Pooling, activations and biases are memory-bound and left out, as timm's counters do.
    """
    total = 0
    for layer in _leaf_layers(model):
        kernel = getattr(layer, "kernel", None)
        if kernel is None:
            continue
        # A grouped convolution's kernel is (kh, kw, c_in / groups, filters), so the product is already right.
        positions = math.prod(d or 1 for d in layer.output.shape[1:-1])
        total += math.prod(kernel.shape) * positions
    return int(total)


def forward_flops(model: keras.Model) -> int:
    """Floating-point operations of one sample's forward pass (2 per MAC)."""
    return 2 * forward_macs(model)


def training_flops(model: keras.Model) -> int:
    """Floating-point operations of one sample's training step: forward plus a backward pass of about
    twice the forward cost (gradients with respect to inputs and to weights)."""
    return 3 * forward_flops(model)


def _leaf_layers(model: keras.Model):
    import keras

    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer
