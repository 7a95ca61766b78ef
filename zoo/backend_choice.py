"""Which Keras backend trains an entry: ``--backend auto|tensorflow|jax|torch`` decided before Keras is imported.

Keras fixes its backend per process when it is first imported, so the choice is made from
``KERAS_BACKEND``, Keras' config file and the table zoo ships (``zoo/backend_table.json``, made by
``zoo.backends.choice_table`` from the committed benchmark results: per device and entry, the
backends in order of measured training speed). ``auto``, the default of ``zoo run`` and ``zoo reference``,
takes the fastest installed backend measured for the entry on the device, TensorFlow where nothing was
measured; a ``KERAS_BACKEND`` the user set wins over ``auto``; an explicit ``--backend`` wins over both.
With no backend asked for at all (``zoo.train(backend=None)``, ``zoo.run.run_model``) Keras' own choice
stands: ``KERAS_BACKEND``, else its config file, else TensorFlow.

Reads JSON and the environment only: no TensorFlow, Keras or registry import.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from zoo.errors import ZooError
from zoo.precision import BACKEND_LABELS, FLOAT32, POLICIES, label, split, unusable, variant
from zoo.precision import REQUESTS as PRECISION_REQUESTS

BACKENDS = ("tensorflow", "jax", "torch")
REQUESTS = ("auto", *BACKENDS)
FALLBACK = "tensorflow"
LABELS = BACKEND_LABELS
TABLE = Path(__file__).with_name("backend_table.json")
# How a parent `zoo run` tells the child it started for one backend why each entry went there.
CHOICE_ENV = "ZOO_BACKEND_CHOICE"


@dataclass(frozen=True)
class Choice:
    """The backend an entry trains under, in which precision, what the user asked for, and why (one line,
    for the report)."""

    backend: str
    # auto, tensorflow, jax, torch, or "default" (none asked for, as zoo.train(backend=None): Keras' own choice)
    requested: str
    why: str
    # What decided it, for the notes zoo run prints (not recorded): "table" (auto, measured), "fallback" (auto,
    # nothing measured), "environment" (KERAS_BACKEND over auto), "kept" (auto with --distribute), "flag", "keras",
    # "precision" (a backend asked for or set, its precision from the table).
    source: str = field(default="", compare=False)
    precision: str = FLOAT32  # what training computes in (zoo.precision)

    def record(self) -> dict[str, str]:
        """What ``report.json`` records under ``environment.backend_choice``."""
        return {"backend": self.backend, "precision": self.precision, "requested": self.requested, "why": self.why}

    def flags(self) -> list[str]:
        """The ``zoo run`` options that train exactly this choice (a seed's or a child's process)."""
        return ["--backend", self.backend, "--precision", self.precision]


def installed(backend: str) -> bool:
    """Whether ``backend``'s library can be imported here (without importing it)."""
    try:
        return importlib.util.find_spec(backend) is not None
    except (ImportError, ValueError):  # a finder that refuses the name, a half-installed package
        return False


def load_table(path: Path = TABLE, *, yours: bool = True) -> dict[str, Any]:
    """The shipped table: ``{"devices": {"cpu": {entry: {"order": [...], ...}}, "gpu": {...}}}``; empty if unreadable.
    With ``yours``, the entries you measured under two or more backends with ``zoo bench``
    (``zoo.measured_backends``) are added, over the shipped rows for the same entries."""
    try:
        table = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        table = None
    table = table if isinstance(table, dict) and isinstance(table.get("devices"), dict) else {"devices": {}}
    if yours:
        from zoo.measured_backends import table as measured

        for device, rows in measured().items():
            table["devices"].setdefault(device, {}).update(rows)
    return table


def configured_backend(env: Mapping[str, str] | None = None) -> str:
    """The backend Keras will use (or uses) in this process: the imported Keras' own, else ``KERAS_BACKEND``,
    else Keras' config file (``$KERAS_HOME/keras.json``, ``~/.keras/keras.json``), else TensorFlow."""
    env = os.environ if env is None else env
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        return keras.backend.backend()
    if env.get("KERAS_BACKEND"):
        return env["KERAS_BACKEND"]
    home = Path(env.get("KERAS_HOME") or Path.home() / ".keras")
    try:
        backend = json.loads((home / "keras.json").read_text(encoding="utf-8")).get("backend")
    except (OSError, ValueError, AttributeError):
        backend = None
    return backend if isinstance(backend, str) and backend else FALLBACK


def device_kind(requested: str = "auto") -> str:
    """``cpu`` or ``gpu``: the table's row for ``zoo run --device``; auto is gpu where an NVIDIA driver shows a GPU."""
    if requested in ("cpu", "gpu"):
        return requested
    gpus = Path("/proc/driver/nvidia/gpus")
    return "gpu" if gpus.is_dir() and any(gpus.iterdir()) else "cpu"


def choose(entry: str, requested: str | None, device: str = "cpu", *, env: Mapping[str, str] | None = None,
           table: dict[str, Any] | None = None, is_installed: Callable[[str], bool] | None = None,
           distributed: bool = False, precision: str = "auto") -> Choice:
    """The backend ``entry`` trains under for ``--backend requested`` on ``device``, and its precision for
    ``--precision precision``; ``requested`` None: no backend asked for (``zoo.train``'s default), so Keras' own
    choice. ``distributed``: a ``--distribute`` run, for which ``auto`` keeps this process's backend.

    ``precision`` auto takes a mixed-precision variant only where the table measured it faster for the entry
    under the chosen backend and this hardware computes it natively (``zoo.precision.unusable``).
    Raises ZooError when an explicitly requested backend is not installed, or a request is unknown.
    """
    env = os.environ if env is None else env
    is_installed = is_installed or installed
    if precision not in PRECISION_REQUESTS:
        raise ZooError(f"--precision {precision}: choose one of {', '.join(PRECISION_REQUESTS)}")
    set_by_user = env.get("KERAS_BACKEND") or None
    if requested is None:
        chosen = _unasked(configured_backend(env), set_by_user)
    elif requested in BACKENDS:
        if not is_installed(requested):
            raise ZooError(f"--backend {requested}: {LABELS[requested]} is not installed; 'pip install {requested}'")
        over = f" (over KERAS_BACKEND={set_by_user})" if set_by_user and set_by_user != requested else ""
        chosen = Choice(requested, requested, f"--backend {requested}{over}", "flag")
    elif requested != "auto":
        raise ZooError(f"--backend {requested}: choose one of {', '.join(REQUESTS)}")
    elif set_by_user:
        chosen = Choice(set_by_user, "auto", f"KERAS_BACKEND={set_by_user} set in the environment wins over auto",
                        "environment")
    elif distributed:
        # The table measured one process training alone, and a cluster is described for one backend (TF_CONFIG,
        # KERAS_DISTRIBUTION_*): a data-parallel run stays where it was before auto became the default.
        here = configured_backend(env)
        chosen = Choice(here, "auto", f"auto: --distribute keeps {LABELS.get(here, here)}, this process's backend "
                                      "(the table measured single-process training)", "kept")
    else:
        table = table if table is not None else load_table()
        return _fastest(entry, device, table, is_installed, precision)
    if precision in POLICIES:
        return replace(chosen, precision=precision, why=f"{chosen.why}; --precision {precision}")
    if requested is None or chosen.source == "kept":  # nothing measured applies: float32, as Keras trains
        return chosen
    table = table if table is not None else load_table()
    return _with_measured_precision(chosen, entry, device, table)


def _row(entry: str, device: str, table: dict[str, Any]) -> dict[str, Any]:
    row = (table.get("devices", {}).get(device) or {}).get(entry)
    return row if isinstance(row, dict) else {}


def _variants(row: dict[str, Any]) -> list[str]:
    """The row's order, fastest first, without names this zoo does not know."""
    return [v for v in row.get("order") or [] if isinstance(v, str)
            and split(v)[0] in BACKENDS and split(v)[1] in POLICIES]


def _measured(row: dict[str, Any], order: list[str]) -> str:
    rates = row.get("train_samples_per_sec", {})
    shown = ", ".join(f"{label(v)} {rates[v]:,.0f}" for v in order if isinstance(rates.get(v), int | float))
    return f"samples/s: {shown}; {row.get('machine', '?')}, {str(row.get('measured', '?'))[:10]}"


def _with_measured_precision(chosen: Choice, entry: str, device: str, table: dict[str, Any]) -> Choice:
    """``chosen``'s backend in the precision measured fastest for it, where this hardware has it (auto)."""
    row = _row(entry, device, table)
    order = [v for v in _variants(row) if split(v)[0] == chosen.backend]
    best = next((v for v in order if unusable(split(v)[1], device) is None), chosen.backend)
    if split(best)[1] == FLOAT32:
        return chosen
    return replace(chosen, precision=split(best)[1], source="precision",
                   why=f"{chosen.why}; auto precision: {label(best)} trains {entry} fastest ({_measured(row, order)})")


def _unasked(backend: str, set_by_user: str | None) -> Choice:
    """Keras' own choice, for a run that asked for no backend."""
    if set_by_user:
        why = f"KERAS_BACKEND={set_by_user} in the environment"
    elif backend == FALLBACK:
        why = f"no backend asked for, so Keras' default ({LABELS[FALLBACK]}); zoo run's default, auto, picks per entry"
    else:
        why = "no backend asked for, so Keras' config file (keras.json)"
    return Choice(backend, "default", why, "keras")


def _fastest(entry: str, device: str, table: dict[str, Any], is_installed: Callable[[str], bool],
             precision: str = "auto") -> Choice:
    """``auto``: the first variant in the entry's row whose backend is installed and whose precision this hardware
    computes natively (or, with an explicit ``precision``, the fastest backend in it)."""
    row = _row(entry, device, table)
    order = _variants(row)
    if not order:
        chosen = Choice(FALLBACK, "auto", f"auto: {entry} has no {device.upper()} training benchmark under two or "
                                          f"more backends; {LABELS[FALLBACK]} by default", "fallback")
        return chosen if precision == "auto" else replace(chosen, precision=precision,
                                                          why=f"{chosen.why}; --precision {precision}")
    if precision != "auto":  # that precision's measured order, else its backends in their fastest variant's
        order = ([v for v in order if split(v)[1] == precision]
                 or list(dict.fromkeys(variant(split(v)[0], precision) for v in order)))
    skipped: list[str] = []
    for name in order:
        backend, policy = split(name)
        if not is_installed(backend):
            skipped.append(f"{label(name)} (pip install {backend}) not installed")
        elif precision == "auto" and (reason := unusable(policy, device)):
            skipped.append(f"{label(name)} not usable ({reason})")
        else:
            break
    else:
        name, backend, policy = FALLBACK, FALLBACK, FLOAT32 if precision == "auto" else precision
    shown = _measured(row, _variants(row))
    if not skipped:
        why = f"auto: {label(name)} trains {entry} fastest on {device.upper()} ({shown})"
    else:
        why = f"auto: faster {', '.join(skipped)}, so {label(name)} trains {entry} on {device.upper()} ({shown})"
    if precision != "auto":
        why += f"; --precision {precision}"
    return Choice(backend, "auto", why, "table", policy)


def plan(names: Iterable[str], requested: str | None, device: str = "cpu", **kwargs: Any
         ) -> list[tuple[str, list[str], dict[str, Choice]]]:
    """The entries grouped by the backend each trains under, groups in the order their first entry came:
    [(backend, names, {name: Choice})]."""
    if requested is not None and kwargs.get("table") is None:
        kwargs["table"] = load_table()  # read once for all the entries, not once each
    groups: dict[str, tuple[list[str], dict[str, Choice]]] = {}
    for name in names:
        choice = choose(name, requested, device, **kwargs)
        group = groups.setdefault(choice.backend, ([], {}))
        group[0].append(name)
        group[1][name] = choice
    return [(backend, group[0], group[1]) for backend, group in groups.items()]


def notes(choices: Mapping[str, Choice], here: str) -> list[str]:
    """The lines ``zoo run`` and ``zoo reference`` print before training, for the entries ``auto`` placed
    (``choices``: each entry's Choice; ``here``: this process's backend): one per entry the table placed or that
    moves off ``here``. None where auto kept what zoo run did before it was the default (nothing measured,
    --distribute) or a KERAS_BACKEND the user set overrode it (the report says so): the default stays quiet
    where it chose nothing. A precision the table chose for a backend you named (or set) is said too: it changes
    how training computes."""
    return [f"{name}: {choice.why}" for name, choice in choices.items()
            if choice.source == "precision" or (choice.requested == "auto" and choice.source != "environment"
                                                and (choice.source == "table" or choice.backend != here))]


def inherited(names: Iterable[str], backend: str, env: Mapping[str, str] | None = None) -> dict[str, Choice]:
    """The choices a parent ``zoo run`` handed this child in ``ZOO_BACKEND_CHOICE``, for entries under ``backend``."""
    env = os.environ if env is None else env
    try:
        handed = json.loads(env.get(CHOICE_ENV) or "{}")
    except ValueError:
        return {}
    found = {}
    for name in names:
        record = handed.get(name) if isinstance(handed, dict) else None
        if isinstance(record, dict) and record.get("backend") == backend:
            policy = record.get("precision")
            found[name] = Choice(backend, str(record.get("requested")), str(record.get("why")),
                                 precision=policy if policy in POLICIES else FLOAT32)
    return found


def current(env: Mapping[str, str] | None = None) -> Choice:
    """The record for a run that asked for no backend (``zoo.train(backend=None)``, ``zoo.run.run_model``)."""
    return choose("", None, env=env)
