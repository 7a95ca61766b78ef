"""A classifier with 2 outputs for the 3 Iris classes."""

import zoo
from zoo_mistakes import iris_spec


def build():
    import keras

    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])


@zoo.hookimpl
def register_models(register):
    register(iris_spec("misfit", build))
