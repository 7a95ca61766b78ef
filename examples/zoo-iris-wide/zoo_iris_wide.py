"""zoo-iris-wide: one model added to zoo from a package of its own."""

import zoo


def build():
    import keras  # inside build(): listing zoo's entries need not start TensorFlow

    return keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(32, activation="relu"),
        keras.layers.Dense(3, activation="softmax"),
    ])


@zoo.hookimpl
def register_models(register):
    register(zoo.ModelSpec(
        name="iris_wide",
        dataset="iris",  # any registered dataset, built-in or from another plugin
        build=build,
        description="4 → Dense 32 relu → Dense 3 softmax",
        tutorial=zoo.Tutorial("zoo README: adding a model", "examples/zoo-iris-wide"),
        reference=zoo.Reference("accuracy", None),
        compile=zoo.CompileSettings(optimizer="adam", loss="sparse_categorical_crossentropy"),
        fit=zoo.FitSettings(epochs=50, batch_size=16),
    ))
