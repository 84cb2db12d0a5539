"""ganbench's command line: commands parse, call one function and render; heavy imports
(torch, pandas) happen inside the commands so ``ganbench --help`` is instant."""

import sys

# Registration by import, in the order `ganbench --help` lists the commands.
# isort: off
from ganbench.cli import train, latency, score, report, history, export, tools, selftest  # noqa: F401, E501
from ganbench.cli.app import app

# isort: on

__all__ = ["app", "run"]


def run() -> None:  # pragma: no cover - console entry for `python -m ganbench`
    sys.exit(app())
