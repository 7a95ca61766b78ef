"""Arithmetic cost of a model, counted from its layers' kernels (as timm reports GMACs)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import keras


@dataclass(frozen=True)
class MacCount:
    """One sample's forward multiply-accumulates, and the layers with weights whose arithmetic is not in it."""

    total: int
    uncounted: tuple[str, ...] = ()  # "name (Class)", e.g. a custom layer; the total leaves them out


# Layers whose weights do no multiply-accumulates worth counting: lookups and element-wise scaling.
NO_MACS = ("Embedding", "BatchNormalization", "LayerNormalization", "GroupNormalization", "Normalization",
           "UnitNormalization", "PReLU", "StringLookup", "IntegerLookup", "TextVectorization")


def count_macs(model: keras.Model) -> MacCount:
    """Multiply-accumulates one sample's forward pass needs, layer by layer.

    Every layer with a ``kernel`` (Dense, ConvND, including Dense on sequences) does one MAC per
    kernel weight per output position: ``prod(kernel.shape) * prod(output spatial dims)``. A
    recurrent layer (SimpleRNN, GRU, LSTM, and each direction of a Bidirectional one) does its cell's
    kernel and recurrent kernel once per timestep. Lookups (Embedding), pooling, activations, biases and
    normalisation are memory-bound and left out, as timm's counters do. Any other layer with weights is
    named in ``uncounted``, not silently counted as 0.
    """
    total, uncounted = 0, []
    for layer in _leaf_layers(model):
        macs = _layer_macs(layer)
        if macs is None:
            uncounted.append(f"{layer.name} ({type(layer).__name__})")
        else:
            total += macs
    return MacCount(int(total), tuple(uncounted))


def _layer_macs(layer) -> int | None:
    """One layer's MACs per sample; 0 for a layer without arithmetic worth counting; None when unknown."""
    forward, backward = getattr(layer, "forward_layer", None), getattr(layer, "backward_layer", None)
    if forward is not None and backward is not None:  # Bidirectional: its two layers see its input
        parts = [_recurrent_macs(part, _timesteps(layer)) for part in (forward, backward)]
        return None if None in parts else sum(parts)
    if getattr(getattr(layer, "cell", None), "kernel", None) is not None:
        return _recurrent_macs(layer, _timesteps(layer))
    kernel = getattr(layer, "kernel", None)
    if kernel is not None:
        # A grouped convolution's kernel is (kh, kw, c_in / groups, filters), so the product is already right.
        return math.prod(kernel.shape) * math.prod(d or 1 for d in layer.output.shape[1:-1])
    if not layer.weights or type(layer).__name__ in NO_MACS:
        return 0
    return None


def _timesteps(layer) -> int | None:
    shape = getattr(layer.input, "shape", ())
    return shape[1] if len(shape) == 3 else None


def _recurrent_macs(layer, steps: int | None) -> int | None:
    """A recurrent layer's cell, kernel and recurrent kernel, once per timestep; None for an unknown length."""
    cell = getattr(layer, "cell", None)
    if not steps or getattr(cell, "kernel", None) is None:
        return None
    return (math.prod(cell.kernel.shape) + math.prod(getattr(cell, "recurrent_kernel", cell.kernel).shape)) * steps


def forward_macs(model: keras.Model) -> int:
    """Multiply-accumulates one sample's forward pass needs (``count_macs``'s total)."""
    return count_macs(model).total


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
