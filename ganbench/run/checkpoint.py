"""Checkpoints: what a resume needs (``session_state`` / ``restore_session``) and when and
how the loop writes one (``Checkpoints``: atomically, outside training time)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch

from ganbench.errors import UserError
from ganbench.run.context import RunContext, RunPart
from ganbench.run.session import Session
from ganbench.run.state import TrainState

CHECKPOINT_FORMAT = 2


def session_state(session: Session, train: TrainState) -> dict[str, Any]:
    """Everything a resume needs: models, optimisers, strategy, scalers, sampler, every
    random stream and the loop's counters."""
    return {
        "format": CHECKPOINT_FORMAT,
        "run_id": session.run.id,
        "config": session.run.model_dump(mode="json"),
        "train": asdict(train),
        "G": session.G.state_dict(),
        "D": session.D.state_dict(),
        "strategy": session.strategy.state_dict(),
        "scalers": {k: v.state_dict() for k, v in (session.strategy.oracle.scalers or {}).items()},
        "sampler": session.sampler.state_dict(),
        "rng": {
            "torch": torch.get_rng_state(),
            "cuda": torch.cuda.get_rng_state_all() if session.device.type == "cuda" else None,
            "noise": session.noise_generator.get_state(),
            "strategy": session.strategy.rng.get_state(),
        },
        "fixed_z": session.fixed_z.cpu(),
    }


def restore_session(session: Session, state: dict[str, Any]) -> TrainState:
    """Put a checkpoint back into a freshly built session; return the loop's counters."""
    if state.get("format") != CHECKPOINT_FORMAT:
        raise UserError(
            f"checkpoint of run {session.run.id}: format {state.get('format')} is not this "
            f"ganbench's ({CHECKPOINT_FORMAT}); use --fresh to start the run over"
        )
    session.G.load_state_dict(state["G"])
    session.D.load_state_dict(state["D"])
    session.strategy.load_state_dict(state["strategy"])
    for key, scaler in (session.strategy.oracle.scalers or {}).items():
        scaler.load_state_dict(state["scalers"][key])
    session.sampler.load_state_dict(state["sampler"])
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    if rng["cuda"] is not None and session.device.type == "cuda":
        torch.cuda.set_rng_state_all(rng["cuda"])
    session.noise_generator.set_state(rng["noise"])
    session.strategy.rng.set_state(rng["strategy"])
    session.fixed_z = state["fixed_z"].to(session.device)
    train = TrainState(**state["train"])
    if train.batch_size:
        session.set_batch_size(train.batch_size)
    return train


class Checkpoints(RunPart):
    """Writes the run's checkpoint every ``checkpoint.every_iterations`` iterations or
    ``every_seconds`` wall seconds, and at the end; the time it takes is not training."""

    def __init__(self, ctx: RunContext) -> None:
        super().__init__(ctx)
        self.saved_at = -1  # iteration of the last checkpoint of this session
        self.last_wall_s = ctx.clock.wall_s()

    def due(self) -> bool:
        every = self.session.run.checkpoint
        return bool(
            (every.every_iterations and self.state.iteration % every.every_iterations == 0)
            or (
                every.every_seconds
                and self.clock.wall_s() - self.last_wall_s >= every.every_seconds
            )
        )

    def save(self) -> None:
        state = self.state
        with self.trackers.excluded("checkpoint") as span:
            state.iter_times_s += self.trackers.iterations.collect()
            state.train_s, state.wall_s = self.clock.train_s(), self.clock.wall_s()
            state.measure = self.trackers.state_dict()
            self.store.save_checkpoint(session_state(self.session, state))
        state.checkpoint_s += span.seconds
        self.last_wall_s = self.clock.wall_s()
        self.saved_at = state.iteration
        self.events.write("checkpoint", iteration=state.iteration, checkpoint_time_s=span.seconds)
