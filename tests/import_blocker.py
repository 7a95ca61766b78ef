"""An environment whose Python processes cannot import some packages, as a machine without them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def blocking_env(folder: Path, blocked: tuple[str, ...], reason: str) -> dict[str, str]:
    """``os.environ`` plus a ``sitecustomize`` in ``folder`` that makes importing any of ``blocked`` fail
    with ``reason``; checked to really fail for the first of them."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "sitecustomize.py").write_text(
        "import sys\n"
        f"BLOCKED = {blocked!r}\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        f"            raise ImportError(f'{{name}} is blocked: {reason}')\n"
        "sys.meta_path.insert(0, Block())\n")
    env = {**os.environ, "PYTHONPATH": str(folder)}
    check = subprocess.run([sys.executable, "-c", f"import {blocked[0]}"], env=env, capture_output=True, text=True)
    assert check.returncode != 0 and reason in check.stderr, check.stderr
    return env
