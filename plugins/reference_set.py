"""zoo's reference set, declared as any plugin declares the trained results it ships.

Every built-in entry trained on the full data by zoo's maintainers (``python -m zoo.reference``),
installed as the package ``zoo_reference`` (``reference/`` in the source tree).
"""

from importlib import resources
from pathlib import Path

import zoo

PACKAGE = "zoo_reference"


def folder() -> Path | None:
    """The installed reference set, or None when this installation has none."""
    try:
        found = Path(str(resources.files(PACKAGE)))
    except ModuleNotFoundError:
        return None
    return found if (found / "manifest.json").is_file() else None


@zoo.hookimpl
def register_reference_sets(register):
    if folder() is not None:
        register(zoo.ReferenceSet(folder=folder()))
