"""A hook name misspelled: register_model, not register_models."""

import zoo
from zoo_mistakes import dense_iris, iris_spec


@zoo.hookimpl
def register_model(register):
    register(iris_spec("typo_net", dense_iris))
