"""One model whose build() has a typo in a layer name, beside one that is fine."""

import zoo
from zoo_mistakes import dense_iris, iris_spec


def build_broken():
    import keras

    return keras.Sequential([keras.Input((4,)), keras.layers.Dens(3, activation="softmax")])


@zoo.hookimpl
def register_models(register):
    register(iris_spec("broken_model", build_broken))
    register(iris_spec("good_model", dense_iris))
