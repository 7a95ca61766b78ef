"""zoo: a plugin-based model zoo of classic TensorFlow/Keras tutorials.

Plugins import ``zoo.hookimpl`` and register ``zoo.DatasetSpec`` / ``zoo.ModelSpec``
records; see ``zoo.hookspecs``. Importing this package does not import Keras.
"""

from zoo.errors import DataError, ExportError, InvalidSpecError, TrainingError, UnknownNameError, ZooError
from zoo.hookspecs import hookimpl
from zoo.specs import (
    CompileSettings,
    DatasetSpec,
    FitSettings,
    ModelSpec,
    Preprocess,
    Reference,
    RemoteFile,
    Splits,
    Tutorial,
)

__version__ = "0.1.0"

__all__ = [
    "CompileSettings", "DataError", "DatasetSpec", "ExportError", "FitSettings", "InvalidSpecError",
    "ModelSpec", "Preprocess", "Reference", "RemoteFile", "Splits", "TrainingError", "Tutorial",
    "UnknownNameError", "ZooError", "hookimpl", "__version__",
]
