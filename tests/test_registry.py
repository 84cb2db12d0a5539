"""The registry pattern shared by every kind."""

from __future__ import annotations

import pytest

from ganbench.config import REGISTRIES
from ganbench.errors import UserError
from ganbench.registry import Registry


def test_register_refuses_a_taken_name_and_lists_names() -> None:
    reg: Registry[type] = Registry("widget")
    reg.register("b")(int)
    reg.register("a")(str)
    assert reg.names() == ["a", "b"] and reg.get("a") is str and "b" in reg
    with pytest.raises(ValueError, match="widget 'a' is already registered"):
        reg.register("a")(float)
    with pytest.raises(UserError, match=r"unknown widget 'c' \(choose: a, b\)"):
        reg.get("c")


@pytest.mark.parametrize("kind", sorted(REGISTRIES))
def test_every_entry_has_a_config_named_after_it(kind: str) -> None:
    for name in REGISTRIES[kind].names():
        config = REGISTRIES[kind].get(name).Config
        assert config.model_fields["name"].default == name
