"""The committed reference set: built under the backends `zoo run` picks by default, and each tutorial's number
inside the spread of the entry's seeds there (issue 21: the fastest backend must not cost the tutorials' results)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from zoo import api
from zoo.backend_choice import choose

REFERENCE = Path(__file__).resolve().parent.parent / "reference"
BUILTIN = sorted(name for name in api.list_models() if api.plugin_of(name).builtin)


def _report(name: str) -> dict:
    return json.loads((REFERENCE / name / "report.json").read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", BUILTIN)
def test_each_entry_was_trained_under_the_backend_auto_picks(name, monkeypatch):
    """The backend and precision the shipped table puts first for the CPU (every backend installed, no
    KERAS_BACKEND) on a CPU like the one that built the set: one with AMX-BF16, as the set's reports record."""
    from zoo import precision

    monkeypatch.setattr(precision, "cpu_flags", lambda path="/proc/cpuinfo": frozenset({precision.CPU_FEATURE}))
    wanted = choose(name, "auto", "cpu", env={}, is_installed=lambda backend: True)
    report = _report(name)
    recorded = report["environment"]
    assert recorded.get("backend") == wanted.backend, f"{name}: built under {recorded.get('backend')}, auto picks " \
                                                      f"{wanted.backend} ({wanted.why})"
    assert (recorded.get("backend_choice") or {}).get("requested") == "auto"
    assert report["training"].get("precision", "float32") == wanted.precision, f"{name}: {wanted.why}"


def rounding(value: float) -> float:
    """Half a unit of the last digit a tutorial printed (0.947: 0.0005): its number stands for that interval."""
    decimals = len(repr(float(value)).split(".")[1].rstrip("0"))
    return 0.5 * 10 ** -decimals


def test_rounding():
    assert rounding(0.947) == pytest.approx(0.0005) and rounding(0.80) == pytest.approx(0.05)
    assert rounding(0.9788) == pytest.approx(0.00005)


@pytest.mark.parametrize("name", [n for n in BUILTIN if _report(n)["reference"].get("value") is not None])
def test_the_tutorials_number_is_inside_the_seeds_spread(name):
    report = _report(name)
    seeds, tutorial = report["seeds"], report["reference"]["value"]
    assert len(seeds["seeds"]) >= 5 and not seeds["failed"]
    assert seeds["metric"] == report["reference"]["metric"]
    slack = rounding(tutorial)
    assert seeds["min"] - slack <= tutorial <= seeds["max"] + slack, (
        f"{name}: the tutorial's {tutorial} is outside zoo's {seeds['metric']} over seeds {seeds['seeds']} under "
        f"{report['environment'].get('backend')}: {seeds['min']:.4f}–{seeds['max']:.4f}")
