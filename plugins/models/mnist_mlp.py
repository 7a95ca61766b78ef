"""Developing our first neural network with Keras: 784 -> 512 relu -> 10 softmax on MNIST."""

import zoo


def build() -> "keras.Model":
    """Dense(512, relu) -> Dense(10, softmax) on flattened 28x28 images: 407,050 parameters."""
    import keras  # here, not at the top: listing zoo's entries must not start TensorFlow

    return keras.Sequential([
        keras.Input((784,)),
        keras.layers.Dense(512, activation="relu"),
        keras.layers.Dense(10, activation="softmax"),
    ], name="mnist_mlp")


@zoo.hookimpl
def register_models(register):
    register(zoo.ModelSpec(
        name="mnist_mlp",
        dataset="mnist",
        build=build,
        description="784 → Dense 512 relu → Dense 10 softmax, Adam, one-hot labels",
        tutorial=zoo.Tutorial("Developing our first neural network with Keras (You, Me & Machines... Learning)",
                              "shared/tutorials/002_db0ddca9f134341c.txt"),
        reference=zoo.Reference("accuracy", 0.9788, "test accuracy after 5 epochs"),
        compile=zoo.CompileSettings(optimizer="adam", loss="categorical_crossentropy"),
        fit=zoo.FitSettings(epochs=5, batch_size=64),
        preprocess=zoo.Preprocess(scale=1 / 255, shape=(784,)),
        one_hot=True,
        tags=("mlp", "image"),
    ))
