"""MLflow: an experiment per suite, a run per ganbench run (found again by its
``ganbench.key`` tag, so exporting twice adds nothing), scalars as metrics against
iteration with the time each was written, the config as params, sample grids and the
profiler trace as artifacts, the final figures as ``final/`` metrics.

Where: ``--dest`` (a tracking URI, or a folder for a SQLite store in it), else
``MLFLOW_TRACKING_URI``, else MLflow's own default (``mlflow.db`` in the working folder,
what ``mlflow ui`` opens there). MLflow cannot delete a point: after a crash and resume,
the points first logged for the repeated iterations stay."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from ganbench.export.feed import Batch, RunInfo
from ganbench.export.sink import SINKS, RunWriter, Sink

BATCH = 1000  # MLflow's most metrics per log_batch
PARAMS = 100  # and params
PARAM_LENGTH = 6000
# a run that ran its course, or broke; anything else stopped it (or has not ended): KILLED
STATUS = {"finished": "FINISHED", "failed": "FAILED", "diverged": "FAILED", "oom": "FAILED"}


@SINKS.register("mlflow")
class MlflowSink(Sink):
    name = module = "mlflow"

    def __init__(self, dest: str | None, replace: bool) -> None:
        super().__init__(dest, replace)
        from mlflow.tracking import MlflowClient

        logging.getLogger("mlflow").setLevel(logging.WARNING)  # not its table-creation notes
        os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")  # nor links
        # A server that does not answer is said within a minute, not after MLflow's seven
        # retries with backoff (the user's own settings win).
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
        os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
        self.uri = tracking_uri(dest)
        self.client = MlflowClient(tracking_uri=self.uri)
        # The store made ready (a new SQLite file's tables created) before any run
        # trains, not in the first seconds of the first one; a server's errors come later.
        if not self.uri.startswith(("http://", "https://")):
            self.client.search_experiments(max_results=1)

    def open_run(self, info: RunInfo) -> RunWriter:
        return MlflowRun(self.client, info)

    def where(self) -> str:
        if self.uri.startswith(("http://", "https://")):
            return self.uri
        return f"{self.uri} (mlflow ui --backend-store-uri {self.uri})"


def tracking_uri(dest: str | None) -> str:
    """``dest`` as a tracking URI (a folder: a SQLite store in it), else MLflow's."""
    if dest and "://" not in dest and not dest.startswith("file:"):
        folder = Path(dest).resolve()
        folder.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{folder / 'mlflow.db'}"
    if dest:
        return dest
    import mlflow

    return os.environ.get("MLFLOW_TRACKING_URI") or mlflow.get_tracking_uri()


class MlflowRun(RunWriter):
    def __init__(self, client: Any, info: RunInfo) -> None:
        self.client, self.info = client, info
        run = _find_or_create(client, info)
        self.run_id, self.status = run.info.run_id, run.info.status
        self.known = {
            (key, m.step) for key in run.data.metrics
            for m in client.get_metric_history(self.run_id, key)
        }  # fmt: skip
        from mlflow.entities import Param

        params = [
            Param(key[:250], str(value)[:PARAM_LENGTH])
            for key, value in info.params.items() if key not in run.data.params
        ]  # fmt: skip
        for start in range(0, len(params), PARAMS):
            client.log_batch(self.run_id, params=params[start : start + PARAMS])
        self.last_step = 0

    def write(self, batch: Batch) -> None:
        self._metrics([(p.name, p.value, p.step, p.time) for p in batch.points])
        for sample in batch.samples:
            self.client.log_artifact(self.run_id, str(sample.path), "samples")

    def _metrics(self, points: list[tuple[str, float, int, float]]) -> None:
        from mlflow.entities import Metric

        now = time.time()
        new = [p for p in points if (p[0], p[2]) not in self.known]
        metrics = [
            Metric(name, value, int((at or now) * 1000), step) for name, value, step, at in new
        ]  # noqa: E501
        for start in range(0, len(metrics), BATCH):
            self.client.log_batch(self.run_id, metrics=metrics[start : start + BATCH])
        self.known.update((p[0], p[2]) for p in new)
        self.last_step = max([self.last_step, *(p[2] for p in points)])

    def finish(self, figures: dict[str, float], status: str | None, trace: Path | None) -> None:
        self._metrics([(name, value, self.last_step, 0.0) for name, value in figures.items()])
        if trace is not None:
            self.client.log_artifact(self.run_id, str(trace), "profile")
        ended = STATUS.get(status or "", "KILLED")
        if ended != self.status:
            self.client.set_terminated(self.run_id, ended)
            self.status = ended


def _find_or_create(client: Any, info: RunInfo) -> Any:
    experiment = client.get_experiment_by_name(info.suite)
    experiment_id = (
        experiment.experiment_id
        if experiment
        else client.create_experiment(info.suite, artifact_location=_artifacts(client, info))
    )
    found = client.search_runs(
        [experiment_id], filter_string=f"tags.`ganbench.key` = '{info.uid}'", max_results=1
    )
    if found:
        return found[0]
    tags = {f"ganbench.{k}": v for k, v in info.tags.items()}
    tags.update({"ganbench.key": info.uid, "mlflow.runName": info.run_id})
    return client.create_run(experiment_id, tags=tags, run_name=info.run_id)


def _artifacts(client: Any, info: RunInfo) -> str | None:
    """A SQLite store's artifacts beside its database (MLflow's own default is ./mlruns
    under whatever folder the command ran from); None (the store's default) elsewhere."""
    uri = client.tracking_uri
    if not uri.startswith("sqlite:///"):
        return None
    database = Path(uri.removeprefix("sqlite:///"))
    return (database.resolve().parent / "mlartifacts" / info.suite).as_uri()
