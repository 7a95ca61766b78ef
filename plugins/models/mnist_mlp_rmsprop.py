"""The Neural Networks notebook's MNIST network: the same 784-512-10 MLP, trained with RMSprop."""

import zoo
from zoo_plugins.models.mnist_mlp import build


@zoo.hookimpl
def register_models(register):
    register(zoo.ModelSpec(
        name="mnist_mlp_rmsprop",
        dataset="mnist",
        build=build,
        description="784 → Dense 512 relu → Dense 10 softmax, RMSprop, batch 128",
        tutorial=zoo.Tutorial("Neural Networks (AIML for Business notebook)",
                              "https://ming-zhao.github.io/AIML_for_Business/Neural_Networks/"),
        reference=zoo.Reference("accuracy", 0.9791, "test accuracy after 5 epochs; 407,050 parameters"),
        compile=zoo.CompileSettings(optimizer="rmsprop", loss="categorical_crossentropy"),
        fit=zoo.FitSettings(epochs=5, batch_size=128),
        preprocess=zoo.Preprocess(scale=1 / 255, shape=(784,)),
        one_hot=True,
        tags=("mlp", "image"),
    ))
