"""The tutorial networks written by hand in plain PyTorch: the peers zoo's training speed is compared with.

Each is what a PyTorch user would write for the tutorial: the same layers and parameter count, the
same optimizer with Keras' hyper-parameters (Keras and PyTorch differ in some defaults: Adam's
epsilon, RMSprop's rho and learning rate), the same batch size, and an idiomatic loop: a shuffled
index per round, one gather per batch, ``zero_grad / backward / step``. Classifiers end in logits and
``CrossEntropyLoss`` (which folds in the softmax the Keras models end with), as PyTorch code does.

Imports only torch and numpy: the plain script's process loads nothing of zoo's training path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

WARM_STEPS = 10  # as zoo.steady_clock.WARM_STEPS: steps left out of a round's steady state


def _mlp(*sizes: int, last_relu: bool = False) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_relu:
            layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def iris_net() -> nn.Module:
    """4 → 10 relu → 10 relu → 3 (193 parameters)."""
    return _mlp(4, 10, 10, 3)


def mnist_mlp_net() -> nn.Module:
    """784 → 512 relu → 10 (407,050 parameters)."""
    return _mlp(784, 512, 10)


def fashion_linear_net() -> nn.Module:
    """Flatten(28×28) → 10 (7,850 parameters)."""
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 10))


def function_fit_net() -> nn.Module:
    """1 → 16 relu → 16 relu → 3 relu → 1 (359 parameters)."""
    return nn.Sequential(_mlp(1, 16, 16, 3, last_relu=True), nn.Linear(3, 1))


def mnist_cnn_net() -> nn.Module:
    """Conv 16@5×5 → pool → Conv 32@5×5 → pool → 128 relu → Dropout 0.4 → 10, on NCHW images."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.4), nn.Linear(128, 10))


def adam(lr: float = 1e-3) -> Callable:
    return lambda params: torch.optim.Adam(params, lr=lr, eps=1e-7)  # Keras' epsilon


def rmsprop() -> Callable:
    return lambda params: torch.optim.RMSprop(params, lr=1e-3, alpha=0.9, eps=1e-7)  # Keras' defaults


@dataclass(frozen=True)
class Peer:
    """One entry's plain-PyTorch script: its network, optimizer and loss, and how its inputs are laid out."""

    build: Callable[[], nn.Module]
    optimizer: Callable
    loss: Callable[[], nn.Module]
    regression: bool = False
    channels_first: bool = False  # zoo's images are NHWC; a PyTorch script reads NCHW


PEERS: dict[str, Peer] = {
    "iris_mlp": Peer(iris_net, adam(), nn.CrossEntropyLoss),
    "mnist_mlp": Peer(mnist_mlp_net, adam(), nn.CrossEntropyLoss),
    "mnist_mlp_rmsprop": Peer(mnist_mlp_net, rmsprop(), nn.CrossEntropyLoss),
    "fashion_linear": Peer(fashion_linear_net, adam(), nn.CrossEntropyLoss),
    "mnist_cnn": Peer(mnist_cnn_net, adam(), nn.CrossEntropyLoss, channels_first=True),
    "mnist_cnn_inverted": Peer(mnist_cnn_net, adam(), nn.CrossEntropyLoss, channels_first=True),
    **{f"fn_{curve}": Peer(function_fit_net, adam(0.01), nn.MSELoss, regression=True)
       for curve in ("square", "sin", "abs", "step")},
}


def tensors(peer: Peer, x: np.ndarray, y: np.ndarray, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """zoo's prepared arrays as the plain script holds them: NCHW images, class indices (not one-hot), on device."""
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if peer.channels_first:
        xt = xt.permute(0, 3, 1, 2).contiguous()
    if peer.regression:
        yt = torch.from_numpy(np.asarray(y, dtype=np.float32).reshape(len(y), -1))
    else:
        y = np.asarray(y)
        yt = torch.from_numpy((y.argmax(axis=1) if y.ndim == 2 else y).astype(np.int64))
    return xt.to(device), yt.to(device)


class Trainer:
    """A plain training loop over ``x``/``y`` (``steps`` × ``batch`` rows), one shuffled pass per round."""

    def __init__(self, peer: Peer, x: torch.Tensor, y: torch.Tensor, batch: int, device: torch.device):
        self.model = peer.build().to(device)
        self.optimizer = peer.optimizer(self.model.parameters())
        self.loss = peer.loss()
        self.x, self.y, self.batch, self.device = x, y, batch, device

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def round(self) -> tuple[float, int, float]:
        """One round: (seconds, steady steps, steady seconds), the steady state from the end of step WARM_STEPS."""
        self.model.train()
        n, steps = len(self.x), len(self.x) // self.batch
        start = time.perf_counter()
        order = torch.randperm(n, device=self.device)
        warm_end = start
        for step in range(steps):
            index = order[step * self.batch:(step + 1) * self.batch]
            self.optimizer.zero_grad(set_to_none=True)
            loss = self.loss(self.model(self.x[index]), self.y[index])
            loss.backward()
            self.optimizer.step()
            if step == WARM_STEPS - 1:
                self._sync()
                warm_end = time.perf_counter()
        self._sync()
        end = time.perf_counter()
        if steps <= WARM_STEPS:
            return end - start, steps, end - start
        return end - start, steps - WARM_STEPS, end - warm_end


def param_count(model: nn.Module) -> int:
    """A network's trainable parameters (the suite checks a peer's equals the zoo model's)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
