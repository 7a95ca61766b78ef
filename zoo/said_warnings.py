"""Which of zoo's one-line warnings this command has said, so that each is said once per command.

``zoo run`` trains an entry whose fastest backend is not this process's in a child ``zoo run``
(``zoo.child_run``), which loads the plugins again and would repeat their warnings. The parent hands
what it has said to the child in ``ZOO_WARNINGS_SHOWN``; the CLI's warning printer
(``zoo.cli._show_warning``) asks ``first_time`` before it prints.
"""

from __future__ import annotations

import json
import os

ENV = "ZOO_WARNINGS_SHOWN"
_said: list[str] = []


def _said_by_parent() -> list[str]:
    try:
        found = json.loads(os.environ.get(ENV) or "[]")
    except ValueError:
        return []
    return [str(m) for m in found] if isinstance(found, list) else []


def new_command() -> None:
    """Forget what an earlier command in this process said."""
    _said.clear()


def first_time(text: str) -> bool:
    """True, and remembered, when ``text`` has not been said in this command yet (nor by a parent zoo)."""
    if text in _said or text in _said_by_parent():
        return False
    _said.append(text)
    return True


def handed_down() -> dict[str, str]:
    """The environment a child ``zoo`` needs not to say again what this command has said."""
    said = [*_said_by_parent(), *_said]
    return {ENV: json.dumps(said)} if said else {}
