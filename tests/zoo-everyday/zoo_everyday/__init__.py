"""Everyday Keras models from a plugin, each on small data made from a seed: a custom layer (declared in
custom_objects), an Embedding + LSTM on token ids, a BatchNormalization CNN on colour images, a regression
of two targets, and a model on words (which zoo refuses before training)."""

import functools

import numpy as np

import zoo

TOKENS, SEQUENCE = 40, 12


def _split(x, y, n_train):
    return zoo.Splits(x[:n_train], y[:n_train], x[n_train:], y[n_train:])


def tokens() -> zoo.Splits:
    """Sequences of 12 token ids out of 40; class 1 when token 7 occurs."""
    rng = np.random.default_rng(0)
    x = rng.integers(8, TOKENS, size=(160, SEQUENCE)).astype("int32")
    y = np.arange(160) % 2
    x[y == 1, rng.integers(0, SEQUENCE)] = 7
    return _split(x, y, 120)


def colours() -> zoo.Splits:
    """16x16 RGB images, reddish (class 0) or bluish (class 1)."""
    rng = np.random.default_rng(0)
    y = np.arange(120) % 2
    x = rng.integers(0, 100, size=(120, 16, 16, 3))
    x[y == 0, ..., 0] += 150
    x[y == 1, ..., 2] += 150
    return _split(x.astype("uint8"), y, 90)


def two_curves() -> zoo.Splits:
    """x in [-2, 2] and two targets of it: x squared and sin(x)."""
    x = np.linspace(-2, 2, 200, dtype="float32").reshape(-1, 1)
    y = np.concatenate([x ** 2, np.sin(x)], axis=1)
    order = np.random.default_rng(0).permutation(200)
    return _split(x[order], y[order], 150)


def words() -> zoo.Splits:
    x = np.array([["good", "wine"], ["bad", "wine"]] * 20)
    y = np.array([1, 0] * 20)
    return _split(x, y, 30)


@functools.cache
def doubler_class():
    """A custom layer, made (and registered with Keras) on first use, so importing the plugin imports no Keras."""
    import keras

    @keras.saving.register_keras_serializable(package="zoo_everyday")
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    return Doubler


def _sequential(*layers):
    import keras

    return keras.Sequential(list(layers))


def build_tokens():
    import keras

    return _sequential(keras.Input((SEQUENCE,), dtype="int32"), keras.layers.Embedding(TOKENS, 8),
                       keras.layers.LSTM(8), keras.layers.Dense(2, activation="softmax"))


def build_colour():
    import keras

    return _sequential(keras.Input((16, 16, 3)), keras.layers.Conv2D(4, 3, activation="relu"),
                       keras.layers.BatchNormalization(), keras.layers.GlobalAveragePooling2D(),
                       keras.layers.Dense(2, activation="softmax"))


def build_two_targets():
    import keras

    return _sequential(keras.Input((1,)), keras.layers.Dense(16, activation="tanh"), keras.layers.Dense(2))


def build_custom():
    import keras

    return _sequential(keras.Input((1,)), doubler_class()(), keras.layers.Dense(16, activation="tanh"),
                       keras.layers.Dense(1))


def build_words():
    import keras

    return _sequential(keras.Input((2,)), keras.layers.Dense(2, activation="softmax"))


@zoo.hookimpl
def register_datasets(register):
    register(zoo.DatasetSpec(name="everyday_tokens", task="classification", description="token id sequences",
                             class_names=("without_7", "with_7"), load=tokens))
    register(zoo.DatasetSpec(name="everyday_colours", task="classification", description="16x16 RGB images",
                             class_names=("red", "blue"), load=colours))
    register(zoo.DatasetSpec(name="everyday_curves", task="regression", description="x -> x², sin x",
                             target_names=("square", "sine"), load=two_curves))
    register(zoo.DatasetSpec(name="everyday_words", task="classification", description="two words",
                             class_names=("bad", "good"), load=words))


def _spec(name, dataset, build, description, **fields):
    regression = fields.get("outputs") == "values"
    return zoo.ModelSpec(
        name=name, dataset=dataset, build=build, description=description,
        tutorial=zoo.Tutorial("zoo's tests", "tests/zoo-everyday"),
        reference=zoo.Reference("r2" if regression else "accuracy", None),
        compile=zoo.CompileSettings(loss="mse", metrics=("mae",)) if regression else zoo.CompileSettings(),
        fit=fields.pop("fit", zoo.FitSettings(epochs=3, batch_size=16)), **fields)


@zoo.hookimpl
def register_models(register):
    register(_spec("everyday_tokens", "everyday_tokens", build_tokens, "token ids → Embedding 8 → LSTM 8 → 2"))
    register(_spec("everyday_colour", "everyday_colours", build_colour, "16x16 RGB → Conv 4 → BatchNorm → 2",
                   preprocess=zoo.Preprocess(scale=1 / 255)))
    register(_spec("everyday_two_targets", "everyday_curves", build_two_targets, "x → Dense 16 tanh → (x², sin x)",
                   outputs="values"))
    register(_spec("everyday_custom", "everyday_curves", build_custom, "x → Doubler → Dense 16 tanh → x²",
                   outputs="values", target="square", custom_objects=lambda: {"Doubler": doubler_class()}))
    register(_spec("everyday_words", "everyday_words", build_words, "two words → 2 (refused: text)"))
