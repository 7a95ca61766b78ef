"""Small plugins for registry tests: each a class whose hooks register ready-made specs."""

from __future__ import annotations

import numpy as np

import zoo
from zoo.plugins import PluginSource


def tiny_dataset(name: str = "tiny") -> zoo.DatasetSpec:
    """A 2-class dataset made in code."""
    def load() -> zoo.Splits:
        rng = np.random.default_rng(0)
        x = rng.normal(size=(40, 2)).astype("float32")
        y = (x[:, 0] > 0).astype("int64")
        return zoo.Splits(x[:30], y[:30], x[30:], y[30:])

    return zoo.DatasetSpec(name=name, task="classification", description="two blobs",
                           class_names=("a", "b"), load=load)


def tiny_model(name: str = "tiny_net", dataset: str = "tiny") -> zoo.ModelSpec:
    """A 2 -> 2 softmax classifier for ``dataset``."""
    def build():
        import keras

        return keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, activation="softmax")])

    return zoo.ModelSpec(name=name, dataset=dataset, build=build, description="linear softmax",
                         tutorial=zoo.Tutorial("test", "tests"), reference=zoo.Reference("accuracy", None),
                         compile=zoo.CompileSettings(), fit=zoo.FitSettings(epochs=1, batch_size=8))


class DatasetPlugin:
    def __init__(self, *specs):
        self.specs = specs or (tiny_dataset(),)

    @zoo.hookimpl
    def register_datasets(self, register):
        for spec in self.specs:
            register(spec)


class ModelPlugin:
    def __init__(self, *specs):
        self.specs = specs or (tiny_model(),)

    @zoo.hookimpl
    def register_models(self, register):
        for spec in self.specs:
            register(spec)


class RaisingPlugin:
    """Registers one model, then raises: nothing of it may stay registered."""

    @zoo.hookimpl
    def register_models(self, register):
        register(tiny_model("half_done"))
        raise RuntimeError("boom in the hook")


def source(name: str, plugin: object, package: str = "fake-pkg") -> PluginSource:
    """A PluginSource that loads ``plugin``."""
    return PluginSource(name, lambda: plugin, package, "1.0")


def failing_source(name: str) -> PluginSource:
    """A PluginSource whose import fails."""
    def load():
        raise ImportError("No module named 'missing_dependency'")

    return PluginSource(name, load, "broken-pkg", "0.1")
