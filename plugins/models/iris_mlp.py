"""An introduction to neural networks (workshop): the Iris classifier, 4 -> 10 -> 10 -> 3."""

import zoo


def build() -> "keras.Model":
    """Two hidden layers of 10 relu units and a 3-way softmax: 193 parameters."""
    import keras  # here, not at the top: listing zoo's entries must not start TensorFlow

    return keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(10, activation="relu"),
        keras.layers.Dense(10, activation="relu"),
        keras.layers.Dense(3, activation="softmax"),
    ], name="iris_mlp")


@zoo.hookimpl
def register_models(register):
    register(zoo.ModelSpec(
        name="iris_mlp",
        dataset="iris",
        build=build,
        description="4 → Dense 10 relu → Dense 10 relu → Dense 3 softmax on raw measurements",
        tutorial=zoo.Tutorial("An introduction to neural networks (workshop, milliams/intro_deep_learning)",
                              "https://github.com/milliams/intro_deep_learning"),
        reference=zoo.Reference("accuracy", 0.947, "val_accuracy 0.9474 in the last of 10 epochs"),
        compile=zoo.CompileSettings(optimizer="adam", loss="sparse_categorical_crossentropy"),
        # train.repeat().shuffle(1000).batch(32), fit(steps_per_epoch=150, epochs=10)
        fit=zoo.FitSettings(epochs=10, batch_size=32, steps_per_epoch=150),
        tags=("mlp", "tabular"),
    ))
