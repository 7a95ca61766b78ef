"""The conformance kit for plugin authors: a pytest plugin (entry point ``pytest11``) and
``parametrize_with_checks``, which makes one test per check per entry, as scikit-learn's does for estimators::

    from zoo.testing import parametrize_with_checks

    @parametrize_with_checks(plugin="wine")
    def test_zoo_checks(entry, check):
        check(entry)

The checks are ``zoo.checks.CHECKS`` (``zoo check`` runs the same). A check known to fail is declared with
its reason, ``expected_failed_checks={"wine_mlp": {"exports": "a layer tf2onnx cannot convert"}}``, and runs
as a strict xfail. After the tests, a summary line says how many checks ran, passed, failed and were
skipped, and why each was skipped.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

MARKER = "zoo_check"


class _Check:
    """One check as a test parameter: callable on a ``CheckedEntry``; skips and fails as pytest does."""

    def __init__(self, name: str):
        self.name = name

    def __repr__(self) -> str:
        return self.name

    def __call__(self, entry) -> str:
        from zoo.checks import CHECKS, CheckFailed, CheckSkipped

        try:
            return CHECKS[self.name](entry)
        except CheckSkipped as exc:
            pytest.skip(str(exc))
        except CheckFailed as exc:
            pytest.fail(str(exc), pytrace=False)


def parametrize_with_checks(*, plugin: str | None = None, models: list[str] | None = None,
                            expected_failed_checks: dict[str, dict[str, str]] | None = None,
                            data_dir: str | Path | None = None):
    """``pytest.mark.parametrize("entry, check", ...)``: every check on every entry of ``plugin``'s distribution
    (or the ``models`` named), with ids ``ENTRY-CHECK``.

    ``expected_failed_checks`` maps an entry to {check: reason}: those run as strict xfails.
    """
    from zoo.checks import CHECKS, CheckedEntry
    from zoo.plugins import load_registry
    from zoo.reference import entries_of

    registry = load_registry()
    names = list(models) if models is not None else entries_of(registry, plugin)
    expected = expected_failed_checks or {}
    unknown = {(n, c) for n, checks in expected.items() for c in checks if n not in names or c not in CHECKS}
    if unknown:
        raise ValueError(f"expected_failed_checks names no such entry or check: {sorted(unknown)}; "
                         f"the checks are {', '.join(CHECKS)}")
    params = []
    for name in names:
        entry = CheckedEntry(name, registry, data_dir)
        for check in CHECKS:
            marks = [getattr(pytest.mark, MARKER)]
            if check in expected.get(name, {}):
                marks.append(pytest.mark.xfail(reason=expected[name][check], strict=True))
            params.append(pytest.param(entry, _Check(check), marks=marks, id=f"{name}-{check}"))
    return pytest.mark.parametrize("entry, check", params)


def pytest_configure(config) -> None:
    """Register the marker and the tally of check outcomes."""
    config.addinivalue_line("markers", f"{MARKER}: a zoo conformance check (zoo.testing.parametrize_with_checks)")
    config.pluginmanager.register(_Tally(), "zoo-check-tally")


class _Tally:
    """Counts each zoo check's outcome (xdist's workers send their reports to the process that prints)."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.skips: list[str] = []

    def pytest_runtest_logreport(self, report) -> None:
        if MARKER not in report.keywords or not (report.when == "call" or report.outcome != "passed"):
            return
        if hasattr(report, "wasxfail"):
            self.counts["expected to fail"] += 1
            return
        self.counts[report.outcome] += 1
        if report.outcome == "skipped":
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
            self.skips.append(f"{report.nodeid.rsplit('[', 1)[-1].rstrip(']')}: {reason.removeprefix('Skipped: ')}")

    def pytest_terminal_summary(self, terminalreporter) -> None:
        """``zoo checks: N ran: P passed, F failed, S skipped, X expected to fail``, then each skip's reason."""
        if not self.counts:
            return
        parts = ", ".join(f"{self.counts[k]} {k}" for k in ("passed", "failed", "skipped", "expected to fail")
                          if self.counts[k])
        terminalreporter.write_sep("-", "zoo conformance checks")
        terminalreporter.write_line(f"zoo checks: {sum(self.counts.values())} ran: {parts}")
        for skip in sorted(self.skips):
            terminalreporter.write_line(f"  skipped {skip}")
