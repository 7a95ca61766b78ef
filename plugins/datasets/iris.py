"""Iris: 150 flowers, four measurements in cm, three species; scikit-learn's bundled copy."""

import zoo

SPLIT_SEED = 0  # fixed, so every run and every report sees the same 112/38 split


def load_iris_splits() -> zoo.Splits:
    """scikit-learn's Iris split 75/25 with a fixed seed, as the workshop's ``train_test_split``."""
    from sklearn.datasets import load_iris
    from sklearn.model_selection import train_test_split

    data = load_iris()
    x_train, x_test, y_train, y_test = train_test_split(
        data.data.astype("float32"), data.target, test_size=0.25, random_state=SPLIT_SEED)
    return zoo.Splits(x_train, y_train, x_test, y_test)


@zoo.hookimpl
def register_datasets(register):
    register(zoo.DatasetSpec(
        name="iris",
        task="classification",
        description="Iris flowers: sepal/petal length and width (cm), 3 species, 112 train + 38 test",
        class_names=("setosa", "versicolor", "virginica"),
        load=load_iris_splits,
        origin="scikit-learn's bundled copy (sklearn.datasets.load_iris)",
        source="R. A. Fisher (1936), via scikit-learn",
    ))
