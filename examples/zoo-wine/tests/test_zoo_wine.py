"""zoo's conformance kit on this plugin's entries: one test per check per entry (`zoo check --plugin wine`
runs the same from the command line)."""

from zoo.testing import parametrize_with_checks


# A check you know fails goes in expected_failed_checks={"ENTRY": {"CHECK": "why"}}, with its reason.
@parametrize_with_checks(plugin="wine")
def test_zoo_checks(entry, check):
    check(entry)
