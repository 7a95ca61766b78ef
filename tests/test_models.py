"""Every built-in model matches its tutorial: parameter counts, outputs, data preparation."""

import numpy as np
import pytest

from zoo.datasets import load_dataset
from zoo.prepare import prepare
from zoo.specs import Splits

PARAMS = {
    "fashion_linear": 7_850,  # the tutorial's model.summary()
    "mnist_mlp": 407_050,
    "mnist_mlp_rmsprop": 407_050,  # the notebook's model.summary()
    "iris_mlp": 4 * 10 + 10 + 10 * 10 + 10 + 10 * 3 + 3,
    "mnist_cnn": (5 * 5 * 16 + 16) + (5 * 5 * 16 * 32 + 32) + (7 * 7 * 32 * 128 + 128) + (128 * 10 + 10),
    "mnist_cnn_inverted": 215_370,
    "fn_square": 1 * 16 + 16 + 16 * 16 + 16 + 16 * 3 + 3 + 3 + 1,
}


@pytest.mark.parametrize("name, params", PARAMS.items())
def test_parameter_counts(registry, name, params):
    assert registry.model(name).build().count_params() == params


def test_every_model_has_a_count(registry):
    assert set(registry.models) - set(PARAMS) <= {"fn_sin", "fn_abs", "fn_step"}


def fake_splits(registry, name) -> Splits:
    """Random raw data shaped like the model's dataset."""
    dataset = registry.dataset(registry.model(name).dataset)
    rng = np.random.default_rng(0)
    if dataset.name in ("mnist", "fashion_mnist"):
        x = rng.integers(0, 256, (12, 28, 28), dtype=np.uint8)
        return Splits(x, np.arange(12) % 10, x[:4], np.arange(4))
    return load_dataset(dataset)


@pytest.mark.parametrize("name", ["fashion_linear", "mnist_mlp", "mnist_mlp_rmsprop", "iris_mlp", "mnist_cnn",
                                  "mnist_cnn_inverted", "fn_square", "fn_step"])
def test_prepared_data_fits_the_network(registry, name):
    spec = registry.model(name)
    data = prepare(spec, registry.dataset(spec.dataset), fake_splits(registry, name))
    outputs = np.asarray(spec.build()(data.x_test[:4]))
    if spec.outputs == "probabilities":
        np.testing.assert_allclose(outputs.sum(axis=1), 1.0, rtol=1e-5)
    if spec.outputs == "values":
        assert outputs.shape == (4, 1) and data.y_test.shape[1] == 1
    assert len(data.x_train) == len(data.y_train)


def test_tutorial_preprocessing(registry):
    raw = Splits(np.full((2, 28, 28), 255, np.uint8), np.array([3, 1]), np.zeros((1, 28, 28), np.uint8), np.array([7]))
    mlp = prepare(registry.model("mnist_mlp"), registry.dataset("mnist"), raw)
    assert mlp.x_train.shape == (2, 784) and mlp.x_train.max() == 1.0
    assert mlp.y_train.tolist()[0] == [0, 0, 0, 1, 0, 0, 0, 0, 0, 0]  # one-hot
    assert mlp.truth.tolist() == [7]
    linear = prepare(registry.model("fashion_linear"), registry.dataset("fashion_mnist"), raw)
    assert linear.x_train.shape == (2, 28, 28) and linear.x_train.max() == 255.0  # raw pixels
    cnn = prepare(registry.model("mnist_cnn_inverted"), registry.dataset("mnist"), raw)
    assert cnn.x_train.shape == (4, 28, 28, 1)  # doubled with inverted copies
    assert cnn.x_train[2:].max() == 0.0 and cnn.y_train.tolist() == [3, 1, 3, 1]
    assert cnn.test_variants["inverted"].min() == 1.0


def test_function_targets(registry):
    data = load_dataset(registry.dataset("functions"))
    for name, column in (("fn_square", 0), ("fn_step", 3)):
        prepared = prepare(registry.model(name), registry.dataset("functions"), data)
        np.testing.assert_array_equal(prepared.y_train[:, 0], data.y_train[:, column])
    square = prepare(registry.model("fn_square"), registry.dataset("functions"), data)
    assert abs(np.mean(square.y_train[:, 0] - square.x_train[:, 0] ** 2)) < 0.01


def test_tutorial_settings(registry):
    iris = registry.model("iris_mlp")
    assert (iris.fit.epochs, iris.fit.batch_size, iris.fit.steps_per_epoch) == (10, 32, 150)
    assert registry.model("mnist_mlp_rmsprop").compile.optimizer == "rmsprop"
    assert registry.model("mnist_mlp").fit.batch_size == 64
    assert registry.model("fashion_linear").outputs == "logits"
    assert registry.model("mnist_cnn").fit.epochs == 1
