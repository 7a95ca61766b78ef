"""Two implementations of one hook in one module, as pluggy allows with specname."""

import zoo
from zoo_mistakes import dense_iris, iris_spec


@zoo.hookimpl(specname="register_models")
def register_small(register):
    register(iris_spec("two_small", dense_iris))


@zoo.hookimpl(specname="register_models")
def register_large(register):
    register(iris_spec("two_large", dense_iris))
