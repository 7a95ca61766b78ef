"""The Neural Networks notebook's "anatomy": small networks fitting x², sin(x), |x| and a step.

The last hidden layer has three units, so each fit reads as a weighted sum of
three learned curves, the picture the notebook draws.
"""

import zoo

CURVES = {"square": "x²", "sin": "sin(x)", "abs": "|x|", "step": "the step function"}


def build() -> "keras.Model":
    """1 -> Dense 16 relu -> Dense 16 relu -> Dense 3 relu -> Dense 1: 359 parameters."""
    import keras  # here, not at the top: listing zoo's entries must not start TensorFlow

    return keras.Sequential([
        keras.Input((1,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(3, activation="relu"),
        keras.layers.Dense(1),
    ], name="function_fit")


@zoo.hookimpl
def register_models(register):
    for target, formula in CURVES.items():
        register(zoo.ModelSpec(
            name=f"fn_{target}",
            dataset="functions",
            target=target,
            build=build,
            description=f"1 → 16 → 16 → 3 → 1 network fitting {formula} from scattered points",
            tutorial=zoo.Tutorial("Neural Networks (AIML for Business notebook), 'Anatomy of a neural network'",
                                  "https://ming-zhao.github.io/AIML_for_Business/Neural_Networks/"),
            reference=zoo.Reference("mse", None, "the notebook shows the fitted curves, no number"),
            quality_target=zoo.QualityTarget("r2", 0.98, "stated by zoo: the notebook gives no number"),
            compile=zoo.CompileSettings(optimizer={"class_name": "Adam", "config": {"learning_rate": 0.01}},
                                        loss="mse", metrics=("mae",)),
            fit=zoo.FitSettings(epochs=100, batch_size=32),
            outputs="values",
            tags=("mlp", "regression", "toy"),
        ))
