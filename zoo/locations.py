"""Where zoo's files are: the reference results shipped with the package, and the user's own runs.

- The reference set: every built-in entry trained on the full data by zoo's maintainers, shipped as
  package data (the ``zoo_reference`` package; ``reference/`` in the source tree), read-only.
- The user's runs: ``$ZOO_HOME/runs`` (``ZOO_HOME`` defaults to ``$XDG_DATA_HOME/zoo``, that is
  ``~/.local/share/zoo``); ``--out`` chooses another folder. zoo never writes into the reference set.
"""

from __future__ import annotations

import os
from pathlib import Path

REFERENCE_PACKAGE = "zoo_reference"


def zoo_home() -> Path:
    """zoo's own folder for the user's files: ``$ZOO_HOME``, else ``$XDG_DATA_HOME/zoo``, else ``~/.local/share/zoo``."""
    if os.environ.get("ZOO_HOME"):
        return Path(os.environ["ZOO_HOME"]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home).expanduser() / "zoo"


def runs_dir() -> Path:
    """Where ``zoo run`` saves runs unless ``--out`` says otherwise: ``<zoo_home>/runs``."""
    return zoo_home() / "runs"


def reference_dir() -> Path | None:
    """The folder of the shipped reference set, or None when this installation has none."""
    from importlib import resources

    try:
        folder = Path(str(resources.files(REFERENCE_PACKAGE)))
    except ModuleNotFoundError:
        return None
    return folder if (folder / "manifest.json").is_file() else None
