"""zoo: a plugin-based model zoo of classic TensorFlow/Keras tutorials.

For users: ``zoo.list_models``, ``zoo.card``, ``zoo.create_model``, ``zoo.load_onnx``, ``zoo.train``,
``zoo.load_run`` and ``zoo.load_dataset`` (``zoo.api``). For plugin authors: the ``zoo.hookimpl`` marker and the records
``zoo.DatasetSpec`` / ``zoo.ModelSpec`` / ``zoo.ReferenceSet`` (``zoo.hookspecs``, ``zoo.specs``).
Importing this package imports neither Keras nor TensorFlow.
"""

from zoo.api import (card, create_model, get_dataset, get_plugin, get_spec, list_models, load_dataset, load_onnx,
                     load_run, train)
from zoo.errors import DataError, ExportError, InvalidSpecError, TrainingError, UnknownNameError, ZooError
from zoo.hookspecs import hookimpl
from zoo.specs import (
    CompileSettings,
    DatasetSpec,
    FitSettings,
    ModelSpec,
    Preprocess,
    QualityTarget,
    Reference,
    ReferenceSet,
    RemoteFile,
    Splits,
    Tutorial,
)
from zoo.version import __version__

__all__ = [
    # using zoo
    "card", "create_model", "get_dataset", "get_plugin", "get_spec", "list_models", "load_dataset", "load_onnx",
    "load_run", "train",
    # writing plugins
    "CompileSettings", "DatasetSpec", "FitSettings", "ModelSpec", "Preprocess", "QualityTarget", "Reference", "ReferenceSet",
    "RemoteFile", "Splits", "Tutorial", "hookimpl",
    # errors
    "DataError", "ExportError", "InvalidSpecError", "TrainingError", "UnknownNameError", "ZooError",
    "__version__",
]
