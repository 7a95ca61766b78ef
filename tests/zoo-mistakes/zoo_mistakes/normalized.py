"""The everyday Keras way to normalise inputs: preprocessing layers inside the model.

``iris_norm`` adapts a Normalization layer on the training split; ``iris_norm_given`` gives mean
and variance; ``iris_bins`` uses Discretization, whose TensorFlow op tf2onnx cannot convert.
"""

import zoo
from zoo_mistakes import dense_iris, iris_spec


def training_rows():
    return zoo.load_dataset("iris").x_train


def build_adapted():
    import keras

    normalization = keras.layers.Normalization()
    normalization.adapt(training_rows())
    return dense_iris(normalization)


def build_given():
    import keras

    rows = training_rows()
    return dense_iris(keras.layers.Rescaling(0.5), keras.layers.Normalization(mean=rows.mean(0) * 0.5,
                                                                              variance=rows.var(0) * 0.25))


def build_bins():
    import keras

    return dense_iris(keras.layers.Discretization(bin_boundaries=[1.0, 2.0, 4.0, 6.0]))


@zoo.hookimpl
def register_models(register):
    register(iris_spec("iris_norm", build_adapted))
    register(iris_spec("iris_norm_given", build_given))
    register(iris_spec("iris_bins", build_bins))
