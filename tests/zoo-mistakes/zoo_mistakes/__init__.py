"""Plugins written the way a newcomer writes them from zoo's README, each with one kind of mistake (or none)."""

import zoo


def iris_spec(name: str, build, **fields) -> zoo.ModelSpec:
    """An Iris classifier's spec, as the README's example declares one."""
    return zoo.ModelSpec(
        name=name, dataset="iris", build=build, description=f"{name}: a small Iris network",
        tutorial=zoo.Tutorial("zoo's tests", "tests/zoo-mistakes"), reference=zoo.Reference("accuracy", None),
        compile=fields.pop("compile", zoo.CompileSettings(optimizer="adam", loss="sparse_categorical_crossentropy")),
        fit=fields.pop("fit", zoo.FitSettings(epochs=50, batch_size=16)), **fields)


def dense_iris(*first_layers):
    """4 -> (first layers) -> Dense 16 relu -> Dense 3 softmax."""
    import keras

    return keras.Sequential([keras.Input((4,)), *first_layers, keras.layers.Dense(16, activation="relu"),
                             keras.layers.Dense(3, activation="softmax")])
