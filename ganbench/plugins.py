"""Plugins: other distributions' datasets, models, losses, strategies and metrics.

A package registers entries in the entry-point groups ``ganbench.datasets``,
``ganbench.models``, ``ganbench.losses``, ``ganbench.strategies`` and
``ganbench.metrics``; each entry point's name is the name suites use, its value the class
(a ``DataSource``, ``ModelFamily``, ``GANLoss``, ``Strategy`` or ``Metric`` subclass with
its ``Config``), e.g. in the plugin's pyproject.toml::

    [project.entry-points."ganbench.models"]
    resnet = "mygan.ganbench_plugin:ResNetFamily"

They are loaded once, before suites are validated. A plugin that fails to load (an
import error, a name already taken, not a class with a ``Config``) is named in one
warning line on stderr and left out; nothing else is affected.
"""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from ganbench.registry import Registry

GROUP = "ganbench.{kind}"


def load_plugins(registries: dict[str, Registry[Any]]) -> list[str]:
    """Register every installed plugin entry into ``registries`` (by kind: ``models``
    ...); the warnings, also written to stderr."""
    warnings = []
    for kind, registry in registries.items():
        for point in entry_points(group=GROUP.format(kind=kind)):
            problem = _register(registry, point)
            if problem:
                warnings.append(problem)
                print(f"ganbench: warning: {problem}", file=sys.stderr)
    return warnings


def _register(registry: Registry[Any], point: EntryPoint) -> str | None:
    dist = point.dist
    origin = f"{dist.name} {dist.version}" if dist is not None else point.value
    where = f"plugin {registry.kind} {point.name!r} ({origin}, {point.value})"
    try:
        entry = point.load()
    except Exception as err:  # noqa: BLE001  (a broken plugin is left out, named)
        return f"{where} left out: {type(err).__name__}: {err}"
    if not isinstance(entry, type) or not hasattr(entry, "Config"):
        return f"{where} left out: not a class with a Config"
    if point.name in registry:
        return f"{where} left out: the name is taken by {registry.origin(point.name)}"
    registry.register(point.name, origin=origin)(entry)
    return None
