"""``zoo new plugin DIR``: a starter plugin package from zoo's copier template (``zoo/templates/plugin``).

The package it writes passes its own tests as written: a dataset and a model module, the conformance kit
in ``tests/``, ``tox.ini`` with a test and a benchmark env, a ``.ci/run`` script, and a README saying how
to build and ship its reference set. copier records the answers in ``.copier-answers.yml``, so
``copier update`` brings a package up to a newer template.
"""

from __future__ import annotations

import re
from pathlib import Path

from zoo.errors import ZooError

TEMPLATE = Path(__file__).resolve().parent / "templates" / "plugin"


def new_plugin(dest: str | Path, name: str, description: str | None = None) -> Path:
    """Write the starter package of plugin ``name`` into ``dest`` (a new or empty folder); returns ``dest``."""
    dest = Path(dest)
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ZooError(f"plugin name {name!r}: use lower case letters, digits and _ (e.g. 'blobs')")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise ZooError(f"{dest} exists and is not an empty folder; choose a new one")
    try:
        import copier
    except ImportError:
        raise ZooError("zoo new needs copier, the templating library: pip install 'zoo[new]'") from None
    answers = {"plugin_name": name, **({"description": description} if description else {})}
    copier.run_copy(str(TEMPLATE), str(dest), data=answers, defaults=True, quiet=True, unsafe=False)
    run = dest / ".ci" / "run"
    if run.is_file():
        run.chmod(run.stat().st_mode | 0o111)
    return dest
