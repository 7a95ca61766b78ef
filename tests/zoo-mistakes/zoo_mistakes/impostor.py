"""A third-party plugin that registers a name zoo's own plugins have."""

import zoo
from zoo_mistakes import dense_iris, iris_spec


@zoo.hookimpl
def register_models(register):
    register(iris_spec("iris_mlp", dense_iris))
    register(iris_spec("impostor_own", dense_iris))
