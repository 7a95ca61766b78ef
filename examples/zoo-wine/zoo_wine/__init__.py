"""zoo-wine: The Wine recognition data and a classifier on standardised measurements.

A zoo plugin: the entry point `wine` names this module, and zoo calls the hooks it finds here.
The dataset is in `dataset.py`, the model in `model.py`; the trained results it ships are in `reference/`.
"""

from pathlib import Path

import zoo

from zoo_wine.dataset import MEAN, STD, load_split, register_datasets  # noqa: F401  (hooks: zoo finds them here)
from zoo_wine.model import register_models  # noqa: F401

REFERENCE = Path(__file__).parent / "reference"


@zoo.hookimpl
def register_reference_sets(register):
    """The trained results this package ships: built with `zoo reference wine --dest zoo_wine/reference`."""
    register(zoo.ReferenceSet(folder=REFERENCE))
