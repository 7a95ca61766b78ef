"""Building a Brain in 10 Minutes: ten linear neurons on raw Fashion-MNIST pixels."""

import zoo


def build() -> "keras.Model":
    """Flatten(28x28) -> Dense(10): 7,840 weights + 10 biases, outputs are logits."""
    import keras  # here, not at the top: listing zoo's entries must not start TensorFlow

    return keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(10)],
                            name="fashion_linear")


@zoo.hookimpl
def register_models(register):
    register(zoo.ModelSpec(
        name="fashion_linear",
        dataset="fashion_mnist",
        build=build,
        description="Flatten(28×28) → Dense(10) logits on raw 0–255 pixels",
        tutorial=zoo.Tutorial("Building a Brain in 10 Minutes (NVIDIA DLI)",
                              "https://github.com/NVDLI/notebooks/tree/master/building-a-brain"),
        reference=zoo.Reference("accuracy", 0.80, "“around 80%” validation accuracy after 5 epochs"),
        compile=zoo.CompileSettings(
            optimizer="adam",
            loss={"class_name": "SparseCategoricalCrossentropy", "config": {"from_logits": True}}),
        fit=zoo.FitSettings(epochs=5, batch_size=32),  # the tutorial leaves Keras' default batch of 32
        outputs="logits",
        tags=("linear", "image"),
    ))
