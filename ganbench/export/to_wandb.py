"""Weights & Biases: a run per ganbench run, its id derived from the run (so a second
export resumes the same run), grouped by suite and configuration (W&B draws a group's
seeds as one line with their spread), tagged with suite, configuration and seed. Scalars
against iteration (W&B's step) and ``time/train_s`` to choose as the x-axis instead;
sample grids as images; the config as the run's config; the final figures in its summary;
the profiler trace among its files.

Project: ``WANDB_PROJECT``, else ``ganbench``. Mode: ``WANDB_MODE`` where set, else
online when logged in (``wandb login``, ``WANDB_API_KEY``), else offline: the run files go
to ``<dest>/wandb/`` (dest: the working folder) and ``wandb sync`` uploads them later. An
offline run exported again replaces its files; online, W&B drops the steps it has."""

from __future__ import annotations

import netrc
import os
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from ganbench.export.feed import Batch, RunInfo
from ganbench.export.sink import SINKS, RunWriter, Sink


@SINKS.register("wandb")
class WandbSink(Sink):
    name = module = "wandb"

    def __init__(self, dest: str | None, replace: bool) -> None:
        super().__init__(dest, replace)
        import wandb

        wandb.setup()  # its service process started before any run trains, not during one

    @property
    def root(self) -> Path:
        return Path(self.dest or ".")

    @property
    def mode(self) -> str:
        return os.environ.get("WANDB_MODE") or ("online" if logged_in() else "offline")

    def open_run(self, info: RunInfo) -> RunWriter:
        return WandbRun(self.root, info, self.mode)

    def close(self) -> None:
        """Waits for W&B's service to write every run's files (``finish`` may return
        before), then stops it."""
        import wandb

        wandb.teardown()

    def where(self) -> str:
        project = os.environ.get("WANDB_PROJECT", "ganbench")
        if self.mode == "online":
            return f"W&B project {project!r} (online)"
        return f"{self.root / 'wandb'}/ (offline; upload with: wandb sync {self.root / 'wandb'})"


def logged_in() -> bool:
    """An API key in the environment or in ~/.netrc for W&B's host (what wandb login
    writes)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    host = urlparse(os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai")).hostname
    try:
        return netrc.netrc().authenticators(host or "") is not None
    except (OSError, netrc.NetrcParseError):
        return False


class WandbRun(RunWriter):
    def __init__(self, root: Path, info: RunInfo, mode: str) -> None:
        import wandb

        self.info = info
        root.mkdir(parents=True, exist_ok=True)
        if mode == "offline":
            for old in (root / "wandb").glob(f"offline-run-*-{info.uid}"):
                shutil.rmtree(old, ignore_errors=True)  # the feed replays the run whole
        self.run = wandb.init(
            project=os.environ.get("WANDB_PROJECT", "ganbench"),
            id=info.uid, name=info.run_id, group=f"{info.suite}/{info.configuration}",
            job_type=info.configuration, tags=[info.suite, info.configuration, f"seed{info.seed}"],
            config={**info.params, **{f"ganbench.{k}": v for k, v in info.tags.items()}},
            dir=str(root), mode=mode, resume="allow", reinit="create_new",
            settings=wandb.Settings(console="off", silent=True, x_disable_stats=True),
        )  # fmt: skip
        self.last_step = 0

    def write(self, batch: Batch) -> None:
        """Rows in step order; a step below one logged is left out (W&B keeps none: only
        a GPU sample read after the next iteration's row, live)."""
        import wandb

        rows: dict[int, dict[str, Any]] = defaultdict(dict)
        for point in batch.points:
            rows[point.step][point.name] = point.value
        for sample in batch.samples:
            rows[sample.step]["samples"] = wandb.Image(str(sample.path))
        for step in sorted(rows):
            if step >= self.last_step:  # W&B would drop it with a warning
                self.run.log(rows[step], step=step)
                self.last_step = step

    def finish(self, figures: dict[str, float], status: str | None, trace: Path | None) -> None:
        self.run.summary.update({**figures, "ganbench.status": status or "not ended"})
        if trace is not None:  # among the run's files (copied: W&B links files outside)
            kept = Path(self.run.dir) / "profile" / trace.name
            kept.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(trace, kept)
            self.run.save(str(kept), base_path=self.run.dir, policy="now")
        self.exit_code = 0 if status == "finished" else 1

    def close(self) -> None:
        self.run.finish(exit_code=getattr(self, "exit_code", 1))
