"""The hooks a zoo plugin implements.

A plugin is any module (or object) named by an entry point in the ``zoo``
group. It implements any of the hooks below with the ``zoo.hookimpl`` marker
and calls ``register(record)`` once per thing it contributes.
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


@hookspec
def register_reference_sets(register):
    """Register trained results: call ``register(zoo.ReferenceSet(...))`` for each set the plugin's package ships.

    A set serves the entries its manifest lists that any plugin of the same distribution registers; zoo checks
    each entry's files against the manifest before it uses them.
    """
