"""The one training loop: ``strategy.step()`` inside the trackers, results to the store.

Training time excludes evaluation and checkpointing (each waits for the device before
its clock starts, so queued GPU work is charged to training). A NaN/inf loss stops the
run as ``diverged``, an out-of-memory error as ``oom``, any other error as ``failed``;
each is recorded in the run's folder and nothing already written is lost.
"""

from __future__ import annotations

import contextlib
import shutil
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from ganbench.config import RunConfig
from ganbench.data import DATASETS
from ganbench.errors import Diverged, classify_failure
from ganbench.levers import applied_levers
from ganbench.levers.distributed import LOCAL, Replicas
from ganbench.metrics.evaluate import Evaluator, QualityTracker
from ganbench.results import EventLog, RunStatus, RunStore
from ganbench.results.samples import save_samples
from ganbench.session import STREAM_EVAL, Session, TrainState, build_session, stream_seed
from ganbench.trackers.environment import capture_environment
from ganbench.trackers.instruments import Instruments

OnLog = Callable[[dict[str, Any]], None]


def train_run(
    run: RunConfig,
    store: RunStore,
    device: torch.device,
    on_log: OnLog | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    replicas: Replicas = LOCAL,
) -> dict[str, Any]:
    """Train (or resume) one run; return its summary, also written to ``summary.json``
    (``replicas``: this process's place in a ddp group; only rank 0 evaluates and writes,
    through its ``store``)."""
    started = time.perf_counter()
    store.create()
    # The levers' backend flags hold for this run only (restored when the block ends).
    with store.open_events() as events, contextlib.ExitStack() as run_scope:
        trainer: Trainer | None = None
        try:
            image_data = len(DATASETS.get(run.dataset.name).sample_shape(run.dataset)) == 3
            levers = run_scope.enter_context(
                applied_levers(run.levers, device, image_data, replicas)
            )
            session = build_session(run, device, levers, replicas)
            checkpoint = store.load_checkpoint()
            state = session.load_state_dict(checkpoint) if checkpoint else TrainState()
            store.write_config(run.model_dump(mode="json"))
            trainer = Trainer(session, state, store, events, on_log, should_stop, started)
            if replicas.writes:
                evaluator = prepare_metrics(run, session, events)
                # The metrics' one-off set-up (a classifier trained, statistics cached) is
                # reported as metrics_setup_s, outside the run's wall time and budget.
                trainer.started += evaluator.setup_s
                trainer.attach(evaluator)
            status, reason = trainer.run(resumed=checkpoint is not None)
        except KeyboardInterrupt:
            # A second Ctrl-C: record what we have (the last checkpoint stays) and stop.
            _record_end(run, trainer, store, events, "interrupted", "Ctrl-C during an iteration")
            raise
        except Exception as err:  # noqa: BLE001  (recorded in the run, the suite goes on)
            status, reason = classify_failure(err)
            if status == "failed":
                store.error.write_text(traceback.format_exc(), encoding="utf-8")
            if device.type == "cuda":
                torch.cuda.empty_cache()
        return _record_end(run, trainer, store, events, status, reason)


def prepare_metrics(run: RunConfig, session: Session, events: EventLog) -> Evaluator:
    """Build the run's quality metrics (classifier, Inception, cached reference statistics)
    before its training clock starts; what it cost and which caches it hit go in an event."""
    evaluator = Evaluator(
        run.evaluation.metrics,
        run.dataset,
        run.model.latent_dim,
        stream_seed(run.seed, STREAM_EVAL),
        session.device,
        run.evaluation.batch_size,
    )
    if evaluator:
        events.write(
            "metrics_setup",
            metrics_setup_s=evaluator.setup_s,
            setup=evaluator.setup,
            protocol=evaluator.protocol(),
        )
    return evaluator


def run_identity(run: RunConfig, status: str, reason: str) -> dict[str, Any]:
    """The fields that open every summary."""
    return {
        "run_id": run.id,
        "name": run.name,
        "seed": run.seed,
        "strategy": run.strategy.name,
        "status": status,
        "reason": reason,
    }


def _record_end(
    run: RunConfig,
    trainer: Trainer | None,
    store: RunStore,
    events: EventLog,
    status: str,
    reason: str,
) -> dict[str, Any]:
    """Write the end event and summary.json, whatever stopped the run."""
    if trainer is not None:
        summary = trainer.summary(status, reason)
    else:  # failed before the loop (e.g. while loading data)
        summary = run_identity(run, status, reason)
    events.write("end", status=status, reason=reason, iteration=summary.get("iterations", 0))
    store.write_summary(summary)
    return summary


class Trainer:
    """Runs the loop for one session; each method is one step of the loop's bookkeeping."""

    def __init__(
        self,
        session: Session,
        state: TrainState,
        store: RunStore,
        events: EventLog,
        on_log: OnLog | None,
        should_stop: Callable[[], bool],
        started: float,
    ) -> None:
        self.s, self.state, self.store, self.events = session, state, store, events
        self.run_cfg: RunConfig = session.run
        self.on_log, self.should_stop = on_log, should_stop
        self.instruments = Instruments(session, store, state)
        self.started = started
        self.base = {"train_s": state.train_s, "wall_s": state.wall_s}
        # Seconds of this session that are not training: evaluation, checkpoints, FLOP probes.
        self.session_excluded_s = 0.0
        self.loop_start = time.perf_counter()
        self.last_checkpoint_wall = 0.0
        self.loss_sums: torch.Tensor | None = None  # (d, g) summed since the last log
        self.evaluated_at = self.checkpointed_at = -1
        self.loss_count = 0
        self.last_losses: tuple[float | None, float | None] = (None, None)
        self.environment = capture_environment(session.device, self.run_cfg.seed)
        self.evaluator: Evaluator | None = None
        self.quality = QualityTracker({}, {})

    def attach(self, evaluator: Evaluator) -> None:
        """Score quality with ``evaluator`` at every evaluation (time-to-target included)."""
        self.evaluator = evaluator
        self.quality = QualityTracker(evaluator.directions(), self.run_cfg.evaluation.targets)
        self.quality.load_state_dict(self.state.quality)

    # ----------------------------------------------------------------- the loop

    def run(self, resumed: bool) -> tuple[str, str]:
        self._announce(resumed)
        self.loop_start = time.perf_counter()
        self.last_checkpoint_wall = self.wall_s()
        if not resumed and self.run_cfg.evaluation.at_start:
            self.evaluate()
        self.instruments.start()
        try:
            while True:
                # ddp: every rank stops where rank 0's clock and signals say.
                reason, stop = self.s.replicas.from_rank0(
                    (self.budget_reached(), self.should_stop())
                )
                if reason is not None:
                    break
                if stop:
                    self._flush_log()
                    self.checkpoint()
                    return "interrupted", f"stopped on request at iteration {self.state.iteration}"
                self.apply_schedule()
                self.iterate()
                self.after_iteration()
        finally:
            self.instruments.stop()
        self._flush_log()
        if self.evaluated_at != self.state.iteration:
            self.evaluate()
        if self.checkpointed_at != self.state.iteration:
            self.checkpoint()
        return "finished", f"budget reached: {reason}"

    def iterate(self) -> None:
        iteration = self.state.iteration
        self.instruments.begin_iteration(iteration)
        losses = self.s.strategy.step()
        self.instruments.end_iteration(iteration + 1, self.state.batch_size)
        step = torch.stack([losses.d_loss.detach().float(), losses.g_loss.detach().float()])
        self.loss_sums = step if self.loss_sums is None else self.loss_sums + step
        self.loss_count += 1
        self.state.iteration += 1

    def after_iteration(self) -> None:
        st, cfg = self.state, self.run_cfg
        if self.s.sampler.epochs_completed > st.epochs_completed:
            self._close_epochs()
        if st.iteration % cfg.log_every == 0:
            self._flush_log()
        ev = cfg.evaluation
        if (ev.every_iterations and st.iteration % ev.every_iterations == 0) or (
            ev.every_seconds and self.train_s() - st.last_eval_train_s >= ev.every_seconds
        ):
            self.evaluate()
        ck = cfg.checkpoint
        if (ck.every_iterations and st.iteration % ck.every_iterations == 0) or (
            ck.every_seconds and self.wall_s() - self.last_checkpoint_wall >= ck.every_seconds
        ):
            self.checkpoint()

    # ------------------------------------------------------------- bookkeeping

    def wall_s(self) -> float:
        return self.base["wall_s"] + time.perf_counter() - self.started

    def train_s(self) -> float:
        elapsed = time.perf_counter() - self.loop_start - self.session_excluded_s
        return self.base["train_s"] + elapsed

    def budget_reached(self) -> str | None:
        b, st = self.run_cfg.budget, self.state
        if b.iterations is not None and st.iteration >= b.iterations:
            return f"{b.iterations} iterations"
        if b.epochs is not None and self.s.sampler.epoch >= b.epochs:
            return f"{b.epochs:g} epochs"
        if b.wall_seconds is not None and self.wall_s() >= b.wall_seconds:
            return f"{b.wall_seconds:g} wall seconds"
        return None

    def progress(self) -> float:
        b, st = self.run_cfg.budget, self.state
        parts = [
            st.iteration / b.iterations if b.iterations else 0.0,
            self.s.sampler.epoch / b.epochs if b.epochs else 0.0,
            self.wall_s() / b.wall_seconds if b.wall_seconds else 0.0,
        ]
        return min(1.0, max(parts))

    def apply_schedule(self) -> None:
        size = self.s.schedule.size_at(self.state.iteration, self.s.sampler.epoch)
        self.session_excluded_s += self.instruments.prepare(size)
        if size == self.state.batch_size:
            return
        previous, self.state.batch_size = self.state.batch_size, size
        self.s.set_batch_size(size)
        if previous:  # the first size is in the start event
            self._sync()  # rare: the training time at the growth step is exact
            self.events.write(
                "batch_size",
                iteration=self.state.iteration,
                epoch=self.s.sampler.epoch,
                train_s=self.train_s(),
                previous=previous,
                batch_size=size,
                **self.s.strategy.lr,
            )

    def _close_epochs(self) -> None:
        self._sync()
        now = self.train_s()
        while self.state.epochs_completed < self.s.sampler.epochs_completed:
            self.state.epoch_times_s.append(now - self.state.epoch_start_train_s)
            self.state.epoch_start_train_s = now
            self.state.epochs_completed += 1

    def _flush_log(self) -> None:
        """Write one iteration event for the steps since the last one (syncs the device)."""
        if not self.loss_count:
            return
        d_loss, g_loss = (self.loss_sums / self.loss_count).tolist()
        times = self.instruments.collect()
        self.state.iter_times_s += times
        self.loss_sums, self.loss_count = None, 0
        self.last_losses = (d_loss, g_loss)
        self.instruments.memory.sample()
        record = self._record(d_loss, g_loss, sum(times) / max(1, len(times)))
        self.events.write("iteration", **record)
        if self.on_log is not None:
            self.on_log({"run_id": self.run_cfg.id, "fraction": self.progress(), **record})
        for name, value in (("d_loss", d_loss), ("g_loss", g_loss)):
            if value != value or value in (float("inf"), float("-inf")):
                raise Diverged(f"{name} became {value} by iteration {self.state.iteration}")

    def _record(self, d_loss: float, g_loss: float, iter_time_s: float) -> dict[str, Any]:
        st, sampler = self.state, self.s.sampler
        return {
            "iteration": st.iteration,
            "epoch": sampler.epoch,
            "images_seen": sampler.images_seen,
            "batch_size": st.batch_size,
            "wall_s": self.wall_s(),
            "train_s": self.train_s(),
            "iter_time_s": iter_time_s,
            "d_loss": d_loss,
            "g_loss": g_loss,
            **asdict(self.s.strategy.counts),
            **self.s.strategy.lr,
        }

    def _announce(self, resumed: bool) -> None:
        st = self.state
        fields = {
            "run_id": self.run_cfg.id,
            "iteration": st.iteration,
            "num_examples": len(self.s.data),
            "num_params_g": sum(p.numel() for p in self.s.G.parameters()),
            "num_params_d": sum(p.numel() for p in self.s.D.parameters()),
            "environment": self.environment,
        }
        self.events.write("resume" if resumed else "start", **fields)

    # ------------------------------------------------- evaluation and checkpoints

    def _sync(self) -> None:
        if self.s.device.type == "cuda":
            torch.cuda.synchronize(self.s.device)

    def evaluate(self) -> None:
        """Sample grid and quality metrics; none of it counts as training time (ddp: rank 0
        evaluates, the others wait for it at their next all-reduce)."""
        if not self.s.replicas.writes:
            return
        self._sync()
        t0 = time.perf_counter()
        scored = None
        with self.instruments.excluded_phase("evaluation"):
            # Its own random streams: evaluating never shifts what training draws next.
            devices = [self.s.device] if self.s.device.type == "cuda" else []
            with torch.random.fork_rng(devices=devices):
                path = self._save_grid()
                if self.evaluator:
                    scored = self.evaluator.evaluate(self.s.G)
        elapsed = time.perf_counter() - t0
        self.session_excluded_s += elapsed
        self.state.eval_s += elapsed
        train_s = self.train_s()
        self.state.last_eval_train_s = train_s
        self.evaluated_at = self.state.iteration
        at = {
            "iteration": self.state.iteration,
            "train_s": train_s,
            "wall_s": self.wall_s(),
            "images_seen": self.s.sampler.images_seen,
        }
        quality: dict[str, Any] = {}
        if scored is not None:
            reached = self.quality.update(scored.values, at)
            self.state.quality = self.quality.state_dict()
            quality = {
                **scored.values,
                "metric_time_s": scored.seconds,
                "targets_reached": reached,
                "protocol": scored.protocol,
            }
        self.events.write(
            "eval",
            **at,
            eval_time_s=elapsed,
            samples=str(path.relative_to(self.store.folder)),
            **quality,
        )

    def _save_grid(self) -> Path:
        G = self.s.G
        G.eval()
        with torch.no_grad():
            samples = G(self.s.fixed_z)
        G.train()
        real = self.s.data.values[:4096] if self.s.data.kind == "points" else samples
        path = self.store.samples_dir / f"iter{self.state.iteration:08d}.png"
        save_samples(samples, real, path)
        shutil.copyfile(path, self.store.samples)  # samples.png: the latest, rendered once
        return path

    def checkpoint(self) -> None:
        self._sync()
        t0 = time.perf_counter()
        with self.instruments.excluded_phase("checkpoint"):
            self.state.iter_times_s += self.instruments.collect()
            self.state.train_s, self.state.wall_s = self.train_s(), self.wall_s()
            self.state.measure = self.instruments.state_dict()
            self.store.save_checkpoint(self.s.state_dict(self.state))
        elapsed = time.perf_counter() - t0
        self.session_excluded_s += elapsed
        self.state.checkpoint_s += elapsed
        self.last_checkpoint_wall = self.wall_s()
        self.checkpointed_at = self.state.iteration
        self.events.write("checkpoint", iteration=self.state.iteration, checkpoint_time_s=elapsed)

    # ------------------------------------------------------------------ summary

    def summary(self, status: str, reason: str) -> dict[str, Any]:
        st, run, sampler = self.state, self.run_cfg, self.s.sampler
        self.instruments.stop()
        if status != "failed":  # a failed device may not answer
            self.state.iter_times_s += self.instruments.collect()
        train_s, wall_s = self.train_s(), self.wall_s()
        images = sampler.images_seen
        return {
            **run_identity(run, status, reason),
            "iterations": st.iteration,
            "epochs": sampler.epoch,
            "images_seen": images,
            "batch_size_final": st.batch_size,
            "train_s": train_s,
            "wall_s": wall_s,
            "eval_s": st.eval_s,
            "checkpoint_s": st.checkpoint_s,
            "iterations_per_s": st.iteration / train_s if train_s > 0 else None,
            "images_per_s": images / train_s if train_s > 0 else None,
            "iterations_per_s_with_eval": (
                st.iteration / (train_s + st.eval_s) if train_s > 0 else None
            ),
            "images_per_s_with_eval": images / (train_s + st.eval_s) if train_s > 0 else None,
            "epoch_times_s": st.epoch_times_s,
            "epoch_time_mean_s": (
                sum(st.epoch_times_s) / len(st.epoch_times_s) if st.epoch_times_s else None
            ),
            "final_d_loss": self.last_losses[0],
            "final_g_loss": self.last_losses[1],
            "levers": run.levers.model_dump(mode="json"),
            "levers_skipped": dict(self.s.levers.skipped),
            **self._scaling_summary(),
            "world_size": self.s.replicas.world,
            **self._replicas_summary(status, train_s),
            **asdict(self.s.strategy.counts),
            **self.instruments.summary(st, train_s, images),
            **self._quality_summary(),
            "environment": self.environment,
        }

    def _scaling_summary(self) -> dict[str, Any]:
        """fp16: each network's final loss scale and how many steps overflowed."""
        scalers = self.s.strategy.oracle.scalers
        if not scalers:
            return {}
        return {
            "loss_scale": {k: v.scale for k, v in scalers.items()},
            "overflow_skipped_steps": {k: v.skipped for k, v in scalers.items()},
        }

    def _replicas_summary(self, status: str, train_s: float) -> dict[str, Any]:
        """ddp: every rank's own figures, and whether their models ended identical. Only
        after a run that ended in step on every rank (a failed rank cannot answer)."""
        replicas = self.s.replicas
        if not replicas.distributed or not RunStatus(status).in_step:
            return {}
        memory = self.instruments.memory.summary()
        own = {
            "rank": replicas.rank,
            "train_s": train_s,
            "iterations_per_s": self.state.iteration / train_s if train_s > 0 else None,
            "peak_rss_bytes": memory["peak_rss_bytes"],
            "peak_cuda_alloc_bytes": memory["peak_cuda_alloc_bytes"],
        }
        in_sync = replicas.in_sync(self.s.strategy.replicated_state())
        ranks = replicas.gather(own)
        return {
            "ranks": ranks,
            "ranks_in_sync": in_sync,
            # The group's host memory (ranks on one machine); GPU memory is per device.
            "ranks_peak_rss_bytes_sum": sum(r["peak_rss_bytes"] for r in ranks),
        }

    def _quality_summary(self) -> dict[str, Any]:
        if not self.evaluator:
            return {}
        return {
            **self.quality.summary(),
            "metrics_protocol": self.evaluator.protocol(),
            "metrics_setup_s": self.evaluator.setup_s,
        }
