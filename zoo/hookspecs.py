"""The hooks a zoo plugin implements.

A plugin is any module (or object) named by an entry point in the ``zoo``
group. It implements one or both hooks below with the ``zoo.hookimpl`` marker
and calls ``register(spec)`` once per entry it contributes.
"""

from pluggy import HookimplMarker, HookspecMarker

hookspec = HookspecMarker("zoo")
hookimpl = HookimplMarker("zoo")


@hookspec
def register_datasets(register):
    """Register datasets: call ``register(zoo.DatasetSpec(...))`` once per dataset."""


@hookspec
def register_models(register):
    """Register models: call ``register(zoo.ModelSpec(...))`` once per model."""
