"""Per-feature standardisation declared in the spec, so it travels in the export's metadata."""

import zoo
from zoo_mistakes import dense_iris, iris_spec

MEAN = (5.84, 3.06, 3.76, 1.20)  # Iris' column means and standard deviations, in cm
STD = (0.83, 0.44, 1.77, 0.76)


@zoo.hookimpl
def register_models(register):
    register(iris_spec("iris_standardized", dense_iris, preprocess=zoo.Preprocess.standardize(MEAN, STD)))
