"""An introduction to neural networks (workshop): the small MNIST CNN, one epoch."""

import numpy as np

import zoo

TUTORIAL = zoo.Tutorial("An introduction to neural networks (workshop, milliams/intro_deep_learning)",
                        "https://github.com/milliams/intro_deep_learning")


def build() -> "keras.Model":
    """Conv 16@5x5 -> pool -> Conv 32@5x5 -> pool -> Dense 128 -> Dropout 0.4 -> Dense 10 softmax."""
    import keras  # here, not at the top: listing zoo's entries must not start TensorFlow

    return keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(16, 5, padding="same", activation="relu"),
        keras.layers.MaxPool2D(2, 2, padding="same"),
        keras.layers.Conv2D(32, 5, padding="same", activation="relu"),
        keras.layers.MaxPool2D(2, 2, padding="same"),
        keras.layers.Flatten(),
        keras.layers.Dense(128, activation="relu"),
        keras.layers.Dropout(0.4),
        keras.layers.Dense(10, activation="softmax"),
    ], name="mnist_cnn")


def invert(x: np.ndarray) -> np.ndarray:
    """Colour inversion of images scaled to 0..1: dark digits on a light background."""
    return 1.0 - x


@zoo.hookimpl
def register_models(register):
    register(zoo.ModelSpec(
        name="mnist_cnn",
        dataset="mnist",
        build=build,
        description="Conv 16@5×5 → pool → Conv 32@5×5 → pool → Dense 128 → Dropout 0.4 → Dense 10",
        tutorial=TUTORIAL,
        reference=zoo.Reference("accuracy", None, "the workshop trains 1 epoch and reports no test accuracy"),
        quality_target=zoo.QualityTarget("accuracy", 0.97, "stated by zoo: the workshop gives no number"),
        compile=zoo.CompileSettings(optimizer="adam", loss="sparse_categorical_crossentropy"),
        fit=zoo.FitSettings(epochs=1, batch_size=128),
        preprocess=zoo.Preprocess(scale=1 / 255, shape=(28, 28, 1)),
        # The workshop's point: trained on white-on-black digits only, it fails on inverted ones.
        test_variants={"inverted": invert},
        tags=("cnn", "image"),
    ))
