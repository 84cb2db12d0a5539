"""The launcher of a suite: its ``launcher:`` section, then the command line
(``--launcher NAME``; ``--nproc-per-node N`` sets the processes of each ddp run, and
alone is short for the torchrun launcher), validated like the rest of the suite."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ganbench.config.messages import describe
from ganbench.errors import UserError
from ganbench.launchers.base import LAUNCHERS, Launcher


def choose_launcher(
    section: dict[str, Any],
    source: Path | str,
    name: str | None = None,
    nproc_per_node: int | None = None,
    **options: Any,
) -> Launcher:
    """The launcher ``section`` (the suite's) names, overridden by ``name``,
    ``nproc_per_node`` and other ``options`` from the command line (``cpus_per_run=1``;
    None: not given); UserError naming the field on a problem."""
    section = dict(section)
    if name is not None and name != section.get("name"):
        # Another launcher: it keeps those of the section's fields it has (cpus_per_run
        # from a ray section under slurm, ``--set launcher.cluster=local``), no others.
        fields = LAUNCHERS.get(name).Config.model_fields if name in LAUNCHERS else {}
        section = {k: v for k, v in section.items() if k in fields and k != "name"}
        section["name"] = name
    if nproc_per_node is not None and name is None and section.get("name", "inline") == "inline":
        # The shorthand: ddp runs in N processes here (the inline section's choice of
        # one process for the others kept).
        kept = {k: v for k, v in section.items() if k == "in_process"}
        section = {"name": "torchrun", **kept}
    options = {**options, "nproc_per_node": nproc_per_node}
    chosen = section.get("name", "inline")
    if chosen not in LAUNCHERS:
        choices = ", ".join(LAUNCHERS.names())
        raise UserError(f"{source}: launcher: unknown {chosen!r} (choose: {choices})")
    entry = LAUNCHERS.get(chosen)
    given = {key: value for key, value in options.items() if value is not None}
    for key in given:
        if key not in entry.Config.model_fields:
            owners = [n for n in LAUNCHERS.names() if key in LAUNCHERS.get(n).Config.model_fields]
            option = "--" + key.replace("_", "-")
            names = " or ".join([", ".join(owners[:-1]), owners[-1]] if owners[1:] else owners)
            raise UserError(f"{option} goes with the {names} launcher, not {chosen}")
    try:
        cfg = entry.Config.model_validate({**section, **given, "name": chosen})
    except ValidationError as err:
        raise UserError(describe(err, f"{source}: launcher.", entry.Config)) from None
    return entry(cfg)
