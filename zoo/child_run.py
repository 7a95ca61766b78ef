"""A ``zoo run`` or ``zoo bench`` command line re-run in a child process under another Keras backend.

Keras fixes its backend once per process, when it is imported, so entries that train or are measured
under another backend than this process's run in a child with ``KERAS_BACKEND`` set, the same options
given, its output going where this process's goes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path


def run_in_child(parser: argparse.ArgumentParser, argv: list[str], backend: str, names: list[str],
                 choices: dict) -> int:
    """Run ``argv`` (zoo's command line, parsed by ``parser``) for ``names`` under ``backend`` in a child; its exit
    code. ``choices``: each entry's zoo.backend_choice.Choice, handed down for its report."""
    return run_child(child_argv(parser, argv, names, backend), backend, choices)


def run_child(argv: list[str], backend: str, choices: dict) -> int:
    """``python -m zoo ARGV`` under ``backend`` (``argv`` should ask for it: ``--backend BACKEND``), its output
    going where this process's goes; its exit code. ``choices``: the entries' zoo.backend_choice.Choice, which
    the child records in their reports instead of its own ``--backend`` (zoo.backend_choice.inherited)."""
    from zoo.backend_choice import CHOICE_ENV
    from zoo.said_warnings import handed_down

    source = str(Path(__file__).resolve().parent.parent)  # this very zoo, installed or not
    env = {**os.environ, "KERAS_BACKEND": backend, CHOICE_ENV: json.dumps({n: c.record() for n, c in choices.items()}),
           "PYTHONPATH": os.pathsep.join([source, *filter(None, [os.environ.get("PYTHONPATH")])]),
           **handed_down()}  # what this command has said, for the child not to say again
    streams = {"stdout": sys.stdout, "stderr": sys.stderr}
    # Under a test's captured streams (no file descriptor) the child's output is relayed once it ends.
    piped = {key: subprocess.PIPE for key, stream in streams.items() if not _has_fd(stream)}
    sys.stdout.flush()
    sys.stderr.flush()
    child = subprocess.run([sys.executable, "-m", "zoo", *argv], env=env,
                           text=True, **{key: piped.get(key, stream) for key, stream in streams.items()})
    for key in piped:
        streams[key].write(getattr(child, key) or "")
    return child.returncode


def _has_fd(stream) -> bool:
    try:
        stream.fileno()
    except (AttributeError, OSError, ValueError):
        return False
    return True


def child_argv(parser: argparse.ArgumentParser, argv: list[str], names: list[str], backend: str) -> list[str]:
    """``argv`` (a ``zoo run`` or ``zoo bench`` command line) for a child running ``names`` under ``backend``: the
    same options, the model names and patterns (and --all) replaced by ``names``, --backend by ``backend``."""
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    command = next((token for token in argv if token in commands.choices), "run")
    actions = commands.choices[command]._option_string_actions
    kept, i, command_seen = [], 0, False
    while i < len(argv):
        token = argv[i]
        key = token.split("=", 1)[0]
        # argparse accepts unambiguous prefixes of long options (--epoch for --epochs).
        option = key if key in actions else next((o for o in actions if o.startswith(key) and key.startswith("--")), None)
        takes_value = option is not None and actions[option].nargs != 0 and "=" not in token
        if token.startswith("-") and option in ("--backend", "--all"):
            i += 2 if takes_value else 1
            continue
        if token.startswith("-"):
            kept += argv[i:i + 2] if takes_value else [token]
            i += 2 if takes_value else 1
            continue
        if not command_seen:  # "run" or "bench"; every later bare word is a model name or pattern
            kept.append(token)
            command_seen = True
        i += 1
    return [*kept, *names, "--backend", backend]
