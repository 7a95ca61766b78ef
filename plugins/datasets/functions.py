"""1-D curves for regression: x², sin(x), |x| and the step function, sampled at scattered points."""

import numpy as np

import zoo

SEED = 0
N_TRAIN, N_TEST = 1000, 250
X_RANGE = (-3.0, 3.0)
NOISE = 0.05  # standard deviation of the Gaussian noise on every sampled y
CURVES = {
    "square": np.square,
    "sin": np.sin,
    "abs": np.abs,
    "step": lambda x: np.heaviside(x, 0.5),
}


def sample_curves() -> zoo.Splits:
    """Scattered x in X_RANGE (fixed seed); y holds one noisy column per curve, in CURVES order."""
    rng = np.random.default_rng(SEED)
    x = rng.uniform(*X_RANGE, size=(N_TRAIN + N_TEST, 1)).astype("float32")
    y = np.hstack([f(x) for f in CURVES.values()])
    y = (y + rng.normal(0.0, NOISE, size=y.shape)).astype("float32")
    return zoo.Splits(x[:N_TRAIN], y[:N_TRAIN], x[N_TRAIN:], y[N_TRAIN:])


@zoo.hookimpl
def register_datasets(register):
    register(zoo.DatasetSpec(
        name="functions",
        task="regression",
        description=f"x², sin, |x|, step at {N_TRAIN}+{N_TEST} scattered x in {X_RANGE}, noise σ={NOISE}",
        target_names=tuple(CURVES),
        load=sample_curves,
        origin=f"generated in code (seed {SEED})",
        source="after the Neural Networks notebook's 'anatomy' section",
    ))
