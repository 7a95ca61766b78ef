"""`wine_mlp`: standardised measurements through a small MLP.

Declared in the spec, the standardisation travels in the ONNX export's metadata, and every app (zoo predict,
the playground, onnx_consumer.py) applies it.
"""

import zoo
from zoo_wine.dataset import MEAN, STD


def build():
    import keras

    return keras.Sequential([
        keras.Input((13,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(3, activation="softmax"),
    ])


@zoo.hookimpl
def register_models(register):
    register(zoo.ModelSpec(
        name="wine_mlp",
        dataset="wine",
        build=build,
        description="13 standardised measurements → Dense 16 relu → Dense 3 softmax",
        tutorial=zoo.Tutorial("zoo README: per-feature preprocessing", "examples/zoo-wine"),
        reference=zoo.Reference("accuracy", None),
        compile=zoo.CompileSettings(optimizer="adam", loss="sparse_categorical_crossentropy"),
        fit=zoo.FitSettings(epochs=60, batch_size=16),
        preprocess=zoo.Preprocess.standardize(MEAN, STD),
        tags=("mlp", "tabular"),
    ))
