"""What every destination does with a run (``RunWriter``), where it writes (``Sink``), and
the registry the commands choose from (``SINKS``): tensorboard, mlflow, wandb."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ganbench.errors import UserError
from ganbench.export.feed import Batch, RunInfo
from ganbench.registry import Registry


class RunWriter:
    """One run in one tool. ``write`` takes each batch the run's feed reads, in order;
    ``finish`` the final figures, the status (None: no end recorded) and the profiler
    trace; ``close`` frees what the tool holds (a failure there is the caller's to note)."""

    def write(self, batch: Batch) -> None:
        raise NotImplementedError

    def finish(self, figures: dict[str, float], status: str | None, trace: Path | None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def discard(self) -> None:
        """Close after a failure part-way (what was written may stay)."""
        self.close()


class Sink:
    """A destination: ``dest`` is where (a folder, a tracking URI), None for the tool's own
    default; ``replace``: a run exported before is rewritten, not added to."""

    name = ""
    module = ""  # the package the extra installs

    def __init__(self, dest: str | None, replace: bool) -> None:
        self.dest, self.replace = dest, replace

    def open_run(self, info: RunInfo) -> RunWriter:
        raise NotImplementedError

    def where(self) -> str:
        """Where the runs went and how to look, for the closing line."""
        raise NotImplementedError

    def close(self) -> None:
        pass


SINKS: Registry[type[Sink]] = Registry("log destination")


def require(name: str) -> type[Sink]:
    """The sink called ``name``, its package installed (else one line naming the extra);
    checked without importing the package."""
    sink = SINKS.get(name)
    if importlib.util.find_spec(sink.module) is None:
        raise UserError(
            f"{name} needs its extra ({sink.module} is not installed): "
            f"pip install 'ganbench[{name}]'"
        )
    return sink


def open_sinks(tools: list[str], dest: dict[str, str], replace: bool) -> list[Sink]:
    """A sink per tool, writing where ``dest`` names (else the tool's default); one that
    cannot start there is a UserError naming the tool and the place."""
    sinks = []
    for name in tools:
        sink = require(name)
        try:
            sinks.append(sink(dest.get(name), replace))
        except Exception as err:  # noqa: BLE001  (the tool's own error, said in one line)
            where = dest.get(name) or "its default"
            raise UserError(
                f"{name} cannot write to {where}: {type(err).__name__}: {err}"
            ) from None
    return sinks
