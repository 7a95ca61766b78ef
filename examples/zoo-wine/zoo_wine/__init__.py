"""zoo-wine: a dataset and a model added to zoo from a package of their own.

A wine's 13 measurements run from about 0.1 (nonflavanoid phenols) to 1,680 (proline), so the model
standardises each column. Declared in the spec, the standardisation travels in the ONNX export's
metadata, and every app (zoo predict, the playground, onnx_consumer.py) applies it.

The package ships its trained results (``reference/``, built with ``zoo reference wine --dest
zoo_wine/reference``), so its users predict and load the weights without training.
"""

from pathlib import Path

import zoo

# Each column's mean and standard deviation over the training split (load_split().x_train), to 4 digits:
# constants of the data, as torchvision declares ImageNet's, not something each run recomputes.
MEAN = (13.02, 2.328, 2.377, 19.67, 98.98, 2.305, 2.03, 0.3667, 1.608, 5.031, 0.9558, 2.605, 754.2)
STD = (0.8104, 1.144, 0.2791, 3.477, 13.81, 0.6087, 1.02, 0.1195, 0.5947, 2.327, 0.2212, 0.687, 323.6)


def load_split() -> zoo.Splits:
    """scikit-learn's bundled Wine data, split 75/25 with a fixed seed, stratified by class."""
    from sklearn.datasets import load_wine
    from sklearn.model_selection import train_test_split

    data = load_wine()
    x_train, x_test, y_train, y_test = train_test_split(data.data.astype("float32"), data.target, test_size=0.25,
                                                        random_state=0, stratify=data.target)
    return zoo.Splits(x_train, y_train, x_test, y_test)


def build():
    import keras

    return keras.Sequential([
        keras.Input((13,)),
        keras.layers.Dense(16, activation="relu"),
        keras.layers.Dense(3, activation="softmax"),
    ])


@zoo.hookimpl
def register_datasets(register):
    register(zoo.DatasetSpec(
        name="wine",
        task="classification",
        description="Wine recognition: 13 chemical measurements, 3 cultivars, 133 train + 45 test",
        class_names=("cultivar_1", "cultivar_2", "cultivar_3"),
        load=load_split,
        origin="scikit-learn's bundled copy (sklearn.datasets.load_wine)",
        source="UCI Wine recognition data (Forina et al.), via scikit-learn",
    ))


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


@zoo.hookimpl
def register_reference_sets(register):
    register(zoo.ReferenceSet(folder=Path(__file__).parent / "reference"))
