"""The Wine recognition data: 13 chemical measurements of 178 wines from three cultivars (scikit-learn's copy).

A wine's 13 measurements run from about 0.1 (nonflavanoid phenols) to 1,680 (proline), so the model
standardises each column (``model.py``). The means and standard deviations are constants of the data,
declared here beside it.
"""

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
