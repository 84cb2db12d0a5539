"""The order a suite's runs go in (``order:`` in the suite, ``--order``).

- ``interleaved`` (the default): seed blocks. Block b holds every configuration's run of
  the b-th seed, the configurations in the suite's order rotated by b, so each
  configuration goes first, second ... in turn. A machine that slows down part-way
  then slows every configuration alike instead of the ones that happen to come last.
- ``random``: the same blocks, each shuffled by a generator seeded with ``order_seed``
  and the block's index (recorded, so the order is the same on every resume).
- ``grouped``: configuration by configuration, all of one configuration's seeds
  together (ganbench's only order before interleaving became the default).

Every run records where the order put it (``schedule``: order, block, position), so that
configurations can be paired by block. The order depends on the suite alone, so a
resume keeps it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from ganbench.config.schema import RunConfig, RunSchedule

ORDERS = ("interleaved", "random", "grouped")


def order_runs(runs: Sequence[RunConfig], order: str, seed: int = 0) -> list[RunConfig]:
    """``runs`` (as expanded: configuration by configuration) in ``order``, each with its
    ``schedule``; ``seed``: the suite's ``order_seed`` (``random`` only)."""
    names = list(dict.fromkeys(run.name for run in runs))
    seeds = list(dict.fromkeys(run.seed for run in runs))
    if order == "grouped":
        placed = list(runs)
    else:
        placed = []
        for block, run_seed in enumerate(seeds):
            members = {run.name: run for run in runs if run.seed == run_seed}
            turn = block % len(names)
            in_turn = [n for n in names[turn:] + names[:turn] if n in members]
            if order == "random":  # a str seed: the same shuffle in every process
                random.Random(f"ganbench-order-{seed}-{block}").shuffle(in_turn)
            placed += [members[n] for n in in_turn]
    return [_placed(run, order, seeds.index(run.seed), i) for i, run in enumerate(placed)]


def _placed(run: RunConfig, order: str, block: int, position: int) -> RunConfig:
    schedule = RunSchedule(order=order, block=block, position=position)
    return run.model_copy(update={"schedule": schedule})
