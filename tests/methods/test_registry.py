"""harness.methods.register: what a method class must be to join the registry, and the built-in methods in it."""

from __future__ import annotations

import pytest
from torch import nn

from harness.errors import ConfigError
from harness.methods import BUILT_IN, REGISTRY, HParam, Method, build_method, describe_methods, register


@pytest.fixture(autouse=True)
def _restore_registry():
    before = dict(REGISTRY)
    yield
    REGISTRY.clear()
    REGISTRY.update(before)


class _Backbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(3, 2)


def test_built_in_methods_are_registered_under_their_names():
    assert REGISTRY == {cls.name: cls for cls in BUILT_IN}
    assert len(BUILT_IN) == len(REGISTRY)  # no two built-in methods share a name


def test_register_works_as_a_class_decorator():
    @register
    class BiasOnly(Method):
        """Bias only: the backbone's bias terms train."""

        name = "test-bias-only"
        hparams = {"scale": HParam(1.0, "a number the test reads back", lambda v: v > 0, "a number > 0")}

        def __init__(self, backbone, **hparams) -> None:
            super().__init__(backbone, **hparams)
            for param_name, param in backbone.named_parameters():
                param.requires_grad_(param_name.endswith("bias"))

    assert REGISTRY["test-bias-only"] is BiasOnly
    method = build_method({"type": "test-bias-only", "scale": 2.0}, _Backbone())
    assert method.hp == {"scale": 2.0}
    assert sum(p.numel() for p in method.trainable_parameters()) == 2
    (described,) = [m for m in describe_methods() if m["method"] == "test-bias-only"]
    assert described["hparams"] == {"scale": {"default": 1.0, "help": "a number the test reads back"}}
    assert described["doc"] == "Bias only: the backbone's bias terms train."


def test_registering_the_same_class_again_is_a_no_op():
    cls = REGISTRY["prefix"]
    assert register(cls) is cls and REGISTRY["prefix"] is cls


def test_a_name_taken_by_another_class_names_both():
    class OtherPrefix(Method):
        name = "prefix"

    with pytest.raises(ConfigError) as err:
        register(OtherPrefix)
    message = str(err.value)
    assert message.startswith("method name 'prefix' is taken: harness.methods.prefix.PrefixTuning and ")
    assert "test_registry.test_a_name_taken_by_another_class_names_both.<locals>.OtherPrefix both use it" in message
    assert message.endswith("another `name`")
    assert REGISTRY["prefix"].__module__ == "harness.methods.prefix"


def _class(name="test-x", hparams=None, base=Method):
    return type("X", (base,), {"name": name, "hparams": hparams or {}, "__module__": "plugin"})


@pytest.mark.parametrize(
    ("cls", "expected"),
    [
        (object, r"register\(<class 'object'>\): not a subclass of harness\.methods\.Method; subclass it"),
        (_Backbone(), r"not a subclass of harness\.methods\.Method"),
        (_class(base=nn.Module), r"not a subclass of harness\.methods\.Method"),
        (_class(name=""), r"^plugin\.X: `name` must be a non-empty string"),
        (_class(name=3), r"^plugin\.X: `name` must be a non-empty string"),
        (_class(hparams={"k": 2}), r"^plugin\.X: `hparams` must be a dict of name -> harness\.methods\.HParam"),
        (_class(hparams={"train": HParam(1, "")}), r"^plugin\.X: hyper-parameter name\(s\) train are config keys"),
    ],
)
def test_an_unusable_class_is_a_config_error(cls, expected):
    with pytest.raises(ConfigError, match=expected):
        register(cls)
    assert "test-x" not in REGISTRY


def test_a_class_without_a_name_attribute_is_refused():
    class Nameless(Method):
        pass

    with pytest.raises(ConfigError, match=r"Nameless: `name` must be a non-empty string"):
        register(Nameless)
