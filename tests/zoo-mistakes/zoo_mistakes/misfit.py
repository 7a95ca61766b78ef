"""Models that do not fit their data or their loss: 2 outputs for 3 classes; mse on class indices; a softmax
declared as logits."""

import zoo
from zoo_mistakes import dense_iris, iris_spec


def build():
    import keras

    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])


@zoo.hookimpl
def register_models(register):
    register(iris_spec("misfit", build))
    register(iris_spec("iris_mse", dense_iris, compile=zoo.CompileSettings(optimizer="adam", loss="mse")))
    register(iris_spec("iris_softmax_logits", dense_iris, outputs="logits", compile=zoo.CompileSettings(
        optimizer="adam", loss={"class_name": "SparseCategoricalCrossentropy", "config": {"from_logits": True}})))
