"""Two models with a custom layer, registered with Keras inside build() as the README advises (so listing zoo
imports no Keras): one declares it in custom_objects, one forgets to."""

import functools

import zoo
from zoo_mistakes import dense_iris, iris_spec


@functools.cache
def doubler_class():
    """The custom layer's class, made (and registered with Keras) on first use."""
    import keras

    @keras.saving.register_keras_serializable(package="zoo_mistakes")
    class Doubler(keras.layers.Layer):
        def call(self, x):
            return x * 2.0

    return Doubler


def build():
    return dense_iris(doubler_class()())


@zoo.hookimpl
def register_models(register):
    register(iris_spec("iris_custom", build, custom_objects=lambda: {"Doubler": doubler_class()}))
    register(iris_spec("iris_custom_undeclared", build))
