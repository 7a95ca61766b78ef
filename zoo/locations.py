"""Where zoo's files are: the reference results shipped with the package, and the user's own runs.

- The reference sets: trained results a plugin ships (``zoo.ReferenceSet``; ``zoo.reference_sets`` finds
  and checks them), zoo's own built-in set among them, read-only.
- The user's runs: ``$ZOO_HOME/runs`` (``ZOO_HOME`` defaults to ``$XDG_DATA_HOME/zoo``, that is
  ``~/.local/share/zoo``); ``--out`` chooses another folder. zoo never writes into the reference set.
"""

from __future__ import annotations

import os
from pathlib import Path


def zoo_home() -> Path:
    """zoo's own folder for the user's files: ``$ZOO_HOME``, else ``$XDG_DATA_HOME/zoo``, else ``~/.local/share/zoo``."""
    if os.environ.get("ZOO_HOME"):
        return Path(os.environ["ZOO_HOME"]).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data_home).expanduser() / "zoo"


def runs_dir() -> Path:
    """Where ``zoo run`` saves runs unless ``--out`` says otherwise: ``<zoo_home>/runs``."""
    return zoo_home() / "runs"
