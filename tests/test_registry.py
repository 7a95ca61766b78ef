"""The plugin registry: registering, conflicts, failing plugins, ZOO_PLUGINS, and listing."""

import pytest

import zoo
from plugin_fakes import (DatasetPlugin, ModelPlugin, RaisingPlugin, failing_source, source, tiny_dataset,
                          tiny_model)
from zoo.errors import InvalidSpecError, UnknownNameError
from zoo.plugins import PluginWarning, build_registry


def test_register_dataset_and_model():
    registry = build_registry([source("data", DatasetPlugin()), source("net", ModelPlugin())])
    assert registry.model("tiny_net").dataset == "tiny"
    assert registry.dataset("tiny").class_names == ("a", "b")
    assert registry.owner(registry.model("tiny_net")) == "net"
    assert registry.plugins["net"].models == ["tiny_net"]
    assert registry.plugins["data"].datasets == ["tiny"]
    assert registry.plugins["net"].status == "ok"


def test_duplicate_name_names_both_plugins():
    with pytest.warns(PluginWarning, match=r"plugin 'second' registers model 'tiny_net', which plugin 'first' \(the "
                                           r"first by entry-point name keeps it\) already has: refused\. Rename it, "
                                           r"or leave this plugin out with ZOO_PLUGINS=-second"):
        registry = build_registry([source("data", DatasetPlugin()), source("second", ModelPlugin()),
                                   source("first", ModelPlugin())])
    assert registry.owner(registry.model("tiny_net")) == "first"
    assert registry.plugins["second"].status == "failed"
    assert "plugin 'first'" in registry.plugins["second"].error


def test_a_refused_name_keeps_the_plugins_other_entries():
    with pytest.warns(PluginWarning, match="registers model 'tiny_net'"):
        registry = build_registry([source("data", DatasetPlugin()), source("a", ModelPlugin()),
                                   source("b", ModelPlugin(tiny_model(), tiny_model("b_net")))])
    assert registry.plugins["b"].models == ["b_net"] and registry.plugins["b"].status == "partial"
    assert registry.owner(registry.model("b_net")) == "b"


def test_builtin_names_are_kept_whatever_the_order():
    builtin = source("zz_builtin", ModelPlugin(), package="zoo")
    with pytest.warns(PluginWarning, match=r"which zoo's built-in plugin 'zz_builtin' \(zoo keeps its own names\)"):
        registry = build_registry([source("data", DatasetPlugin(), package="zoo"), source("aa_impostor", ModelPlugin()),
                                   builtin])
    assert registry.owner(registry.model("tiny_net")) == "zz_builtin"
    assert "ZOO_PLUGINS=-aa_impostor" in registry.plugins["aa_impostor"].error


def test_every_implementation_of_a_hook_runs_and_fails_alone():
    class TwoImplementations:
        @zoo.hookimpl(specname="register_models")
        def first(self, register):
            register(tiny_model("one_net"))

        @zoo.hookimpl(specname="register_models")
        def second(self, register):
            register(tiny_model("two_net"))
            raise RuntimeError("second one breaks")

        @zoo.hookimpl
        def register_models(self, register):
            register(tiny_model("three_net"))

    with pytest.warns(PluginWarning, match=r"raised in register_models \(second\): RuntimeError: second one breaks"):
        registry = build_registry([source("data", DatasetPlugin()), source("multi", TwoImplementations())])
    assert sorted(registry.models) == ["one_net", "three_net"]
    assert registry.plugins["multi"].status == "partial"


def test_a_misspelled_hook_is_named_with_the_nearest_hook():
    class Misspelled:
        @zoo.hookimpl
        def register_model(self, register):
            register(tiny_model())

    class Unmarked:
        def register_models(self, register):
            register(tiny_model("unmarked_net"))

    with pytest.warns(PluginWarning) as caught:
        registry = build_registry([source("data", DatasetPlugin()), source("typo", Misspelled()),
                                   source("plain", Unmarked())])
    messages = [str(w.message) for w in caught]
    assert ("plugin 'typo' implements 'register_model', which is not a zoo hook. Did you mean 'register_models'? "
            "zoo never calls it") in messages
    assert ("plugin 'plain' has a function 'register_models' not marked with @zoo.hookimpl, so zoo never calls it; "
            "mark it") in messages
    assert registry.plugins["typo"].status == "failed" and registry.models == {}


def test_failing_import_warns_and_others_load():
    with pytest.warns(PluginWarning, match=r"plugin 'broken' failed to load: ImportError: No module named"):
        registry = build_registry([failing_source("broken"), source("data", DatasetPlugin()),
                                   source("net", ModelPlugin())])
    assert registry.plugins["broken"].status == "failed"
    assert "missing_dependency" in registry.plugins["broken"].error
    assert "tiny_net" in registry.models


def test_raising_hook_keeps_nothing_of_that_plugin():
    with pytest.warns(PluginWarning, match=r"plugin 'raiser' raised in register_models: RuntimeError: boom in the "
                                           r"hook; so none of what it registered is kept \(half_done\)"):
        registry = build_registry([source("data", DatasetPlugin()), source("raiser", RaisingPlugin()),
                                   source("net", ModelPlugin())])
    assert "half_done" not in registry.models
    assert registry.plugins["raiser"].models == []
    assert "tiny_net" in registry.models
    with pytest.raises(UnknownNameError, match=r"model 'half_done' is not registered: plugin 'raiser' raised in "
                                               r"register_models after registering it"):
        registry.model("half_done")


def test_an_unusable_entry_is_refused_alone():
    with pytest.warns(PluginWarning, match="registered model 'lost' naming dataset 'nowhere'.*ZOO_PLUGINS leaves out "
                                           "other: add the dataset's plugin to it"):
        registry = build_registry([source("data", DatasetPlugin()), source("other", DatasetPlugin()),
                                   source("net", ModelPlugin(tiny_model("lost", "nowhere"), tiny_model()))], "-other")
    assert list(registry.models) == ["tiny_net"] and registry.plugins["net"].status == "partial"


def test_model_naming_unregistered_dataset():
    with pytest.warns(PluginWarning, match=r"plugin 'net' registered model 'tiny_net' naming dataset 'tinyy', which no "
                                           r"loaded plugin registers\. Did you mean 'tiny'\?"):
        registry = build_registry([source("data", DatasetPlugin()),
                                   source("net", ModelPlugin(tiny_model(dataset="tinyy")))])
    assert registry.models == {}


def test_registering_something_else_than_a_spec():
    with pytest.warns(PluginWarning, match="plugin 'bad' registered a dict with register_models, not a zoo.ModelSpec"):
        build_registry([source("data", DatasetPlugin()), source("bad", ModelPlugin({"name": "x"}))])


@pytest.mark.parametrize("change, message", [
    ({"build": None}, "build must be a function"),
    ({"name": "Bad Name"}, "name must be lower-case"),
    ({"outputs": "scores"}, "outputs must be"),
    ({"preprocess": zoo.Preprocess(shape=(28, -1))}, "preprocess.shape must be positive"),
])
def test_invalid_model_spec_is_refused(change, message):
    fields = dict(name="m", dataset="tiny", build=lambda: None, description="d",
                  tutorial=zoo.Tutorial("t", "s"), reference=zoo.Reference("accuracy", None),
                  compile=zoo.CompileSettings(), fit=zoo.FitSettings(1, 1))
    with pytest.raises(InvalidSpecError, match=message):
        zoo.ModelSpec(**{**fields, **change})


def test_invalid_dataset_spec_is_refused():
    with pytest.raises(InvalidSpecError, match="task must be one of classification, regression"):
        zoo.DatasetSpec(name="d", task="ranking", description="x", load=lambda: None)
    with pytest.raises(InvalidSpecError, match="give standard files"):
        zoo.DatasetSpec(name="d", task="regression", description="x")


def test_invalid_spec_built_inside_a_hook_fails_only_that_plugin():
    class BuildsBadSpec:
        @zoo.hookimpl
        def register_models(self, register):
            register(zoo.ModelSpec(name="bad", dataset="tiny", build="not callable", description="x",
                                   tutorial=zoo.Tutorial("t", "s"), reference=zoo.Reference("accuracy", None),
                                   compile=zoo.CompileSettings(), fit=zoo.FitSettings(1, 1)))

    with pytest.warns(PluginWarning, match="model 'bad': build must be a function"):
        registry = build_registry([source("data", DatasetPlugin()), source("bad", BuildsBadSpec()),
                                   source("net", ModelPlugin())])
    assert list(registry.models) == ["tiny_net"]


def test_task_mismatch_is_refused():
    regression = zoo.DatasetSpec(name="tiny", task="regression", description="x", load=lambda: None)
    with pytest.warns(PluginWarning, match="dataset 'tiny' is for regression"):
        build_registry([source("data", DatasetPlugin(regression)), source("net", ModelPlugin())])


def test_zoo_plugins_keeps_only_named():
    registry = build_registry([source("data", DatasetPlugin()), source("net", ModelPlugin()),
                               source("other", ModelPlugin(tiny_model("other_net")))], "data,net")
    assert list(registry.models) == ["tiny_net"]
    assert registry.plugins["other"].status == "skipped"


def test_zoo_plugins_minus_rules_one_out():
    registry = build_registry([source("data", DatasetPlugin()), source("net", ModelPlugin()),
                               source("other", ModelPlugin(tiny_model("other_net")))], "-other")
    assert list(registry.models) == ["tiny_net"]


def test_zoo_plugins_unknown_name_warns_with_suggestion():
    with pytest.warns(PluginWarning, match=r"ZOO_PLUGINS names no installed plugin 'nett'\. Did you mean 'net'\?"):
        build_registry([source("data", DatasetPlugin()), source("net", ModelPlugin())], "data,nett")


def test_unknown_names_suggest_closest():
    registry = build_registry([source("data", DatasetPlugin()), source("net", ModelPlugin())])
    with pytest.raises(UnknownNameError, match=r"unknown model 'tiny_nett'\. Did you mean 'tiny_net'\?"):
        registry.model("tiny_nett")
    with pytest.raises(UnknownNameError, match=r"unknown dataset 'tin'\. Did you mean 'tiny'\?"):
        registry.dataset("tin")
    with pytest.raises(UnknownNameError, match=r"unknown plugin 'nt'"):
        registry.list_models(plugin="nt")


def test_list_models_filters_and_patterns():
    two = build_registry([source("data", DatasetPlugin(tiny_dataset(), tiny_dataset("other"))),
                          source("net", ModelPlugin(tiny_model("a_net"), tiny_model("b_net", "other")))])
    assert [m.name for m in two.list_models()] == ["a_net", "b_net"]
    assert [m.name for m in two.list_models("b*")] == ["b_net"]
    assert [m.name for m in two.list_models(dataset="other")] == ["b_net"]
    assert two.list_models(task="regression") == []
    assert [m.name for m in two.select(["*_net", "a_net"])] == ["a_net", "b_net"]
    with pytest.raises(UnknownNameError, match=r"no model matches 'z\*'"):
        two.select(["z*"])


def test_builtin_plugins_come_through_entry_points(registry):
    from zoo.plugins import discover

    names = {s.name for s in discover()}
    assert {"mnist", "fashion_mnist", "iris", "functions", "mnist_cnn", "function_fits"} <= names
    assert all(info.package == "zoo" for name, info in registry.plugins.items() if name in names)
    assert set(registry.models) >= {"fashion_linear", "mnist_mlp", "mnist_mlp_rmsprop", "iris_mlp", "mnist_cnn",
                                    "mnist_cnn_inverted", "fn_square", "fn_sin", "fn_abs", "fn_step"}
    assert all(info.status == "ok" for info in registry.plugins.values())
