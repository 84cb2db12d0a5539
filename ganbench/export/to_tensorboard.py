"""TensorBoard: an event file per run in ``<dest>/<suite>/<run id>/`` (dest: ``runs``, as
PyTorch's SummaryWriter), scalars against iteration with the time each was written
(TensorBoard's relative and wall axes), sample grids as images, the config and final
figures as hparams, and the profiler trace where torch-tb-profiler looks for it."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path
from typing import Any

from ganbench.export.feed import Batch, RunInfo
from ganbench.export.sink import SINKS, RunWriter, Sink


@SINKS.register("tensorboard")
class TensorBoardSink(Sink):
    name = module = "tensorboard"

    def __init__(self, dest: str | None, replace: bool) -> None:
        super().__init__(dest, replace)
        from torch.utils.tensorboard import SummaryWriter  # noqa: F401  (imported before any run)

    @property
    def root(self) -> Path:
        return Path(self.dest or "runs")

    def open_run(self, info: RunInfo) -> RunWriter:
        return TensorBoardRun(self.root / info.suite / info.run_id, info, self.replace)

    def where(self) -> str:
        return f"{self.root}/ (tensorboard --logdir {self.root})"


class TensorBoardRun(RunWriter):
    """Written to a folder beside the run's and moved over it at close when replacing
    (an export stopped part-way leaves the previous one); live, in place, from the start."""

    def __init__(self, folder: Path, info: RunInfo, replace: bool) -> None:
        from torch.utils.tensorboard import SummaryWriter

        self.folder, self.info = folder, info
        self.target = folder.parent / f".{folder.name}.partial" if replace else folder
        shutil.rmtree(self.target, ignore_errors=True)
        if not replace:
            shutil.rmtree(folder, ignore_errors=True)  # the feed replays the run from its start
        self.writer = SummaryWriter(str(self.target), flush_secs=5)
        self.last_step = 0
        tags = ", ".join(f"{k}: {v}" for k, v in info.tags.items())
        self.writer.add_text("ganbench/run", tags, 0)

    def write(self, batch: Batch) -> None:
        if batch.resumed_at is not None:
            self._restart(batch.resumed_at)
        for point in batch.points:
            self.writer.add_scalar(point.name, point.value, point.step, walltime=point.time or None)
            self.last_step = max(self.last_step, point.step)
        for sample in batch.samples:
            self.writer.add_image(
                "samples", _image(sample.path), sample.step, walltime=sample.time or None,
                dataformats="HWC",
            )  # fmt: skip

    def _restart(self, step: int) -> None:
        """A resumed run: TensorBoard drops what was logged after ``step`` on reading."""
        from tensorboard.compat.proto.event_pb2 import Event, SessionLog

        self.writer.file_writer.add_event(  # keeps what is below its step: the checkpoint's
            Event(step=step + 1, session_log=SessionLog(status=SessionLog.START))
        )

    def finish(self, figures: dict[str, float], status: str | None, trace: Path | None) -> None:
        from torch.utils.tensorboard.summary import hparams

        for name, value in figures.items():
            self.writer.add_scalar(name, value, self.last_step)
        params = {k: _hparam(v) for k, v in self.info.params.items()}
        params.update(self.info.tags, status=status or "not ended")
        for summary in hparams(params, figures):
            self.writer.file_writer.add_summary(summary)
        if trace is not None:
            # torch-tb-profiler's layout: <run>/plugins/profile/<when>/<worker>.pt.trace.json
            where = self.target / "plugins" / "profile" / self.info.run_id
            where.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(trace, where / f"{socket.gethostname()}.pt.trace.json")

    def discard(self) -> None:
        """The previous export stays; the part written is removed."""
        self.writer.close()
        if self.target != self.folder:
            shutil.rmtree(self.target, ignore_errors=True)

    def close(self) -> None:
        """Replacing: the previous export moved aside, the new one in, the old one removed
        (a failure on the way leaves one of them whole)."""
        self.writer.close()
        if self.target == self.folder:
            return
        previous = self.folder.parent / f".{self.folder.name}.previous"
        shutil.rmtree(previous, ignore_errors=True)
        if self.folder.exists():
            self.folder.rename(previous)
        self.target.rename(self.folder)
        shutil.rmtree(previous, ignore_errors=True)


def _image(path: Path) -> Any:
    import numpy as np
    from PIL import Image

    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _hparam(value: Any) -> Any:
    """TensorBoard's hparams take numbers, strings and booleans."""
    return value if isinstance(value, bool | int | float | str) else str(value)
