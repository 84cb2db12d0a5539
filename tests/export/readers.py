"""What each tool holds, read back with its own reader: run -> scalar series -> points
(steps), and the sample grids per run."""

from __future__ import annotations

import struct
from collections import defaultdict
from pathlib import Path

Series = dict[str, dict[str, list[int]]]  # run -> series -> steps


def tensorboard_series(root: Path) -> tuple[Series, dict[str, int]]:
    """TensorBoard's EventAccumulator over every run folder under ``root``."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    series: Series = {}
    images: dict[str, int] = {}
    for events in sorted(root.rglob("events.out.tfevents.*")):
        run = events.parent.name
        acc = EventAccumulator(str(events.parent), size_guidance={"scalars": 0, "images": 0})
        acc.Reload()
        series[run] = {tag: [e.step for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
        images[run] = sum(len(acc.Images(tag)) for tag in acc.Tags()["images"])
    return series, images


def mlflow_series(uri: str, experiment: str) -> tuple[Series, dict[str, int]]:
    """MlflowClient: every run of the suite's experiment, its metric histories and the
    artifacts under samples/."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    found = client.get_experiment_by_name(experiment)
    series: Series = {}
    images: dict[str, int] = {}
    for run in client.search_runs([found.experiment_id]):
        name = run.data.tags["ganbench.run_id"]
        assert name not in series, f"{name} is in MLflow twice"
        series[name] = {
            key: [m.step for m in client.get_metric_history(run.info.run_id, key)]
            for key in run.data.metrics
        }
        images[name] = len(client.list_artifacts(run.info.run_id, "samples"))
    return series, images


def wandb_records(path: Path) -> list[object]:
    """The records of a W&B run file (``run-<id>.wandb``): LevelDB's log format (32 KiB
    blocks of checksummed chunks) after W&B's 7-byte header, each record one of W&B's
    own protobuf ``Record`` messages."""
    from wandb.proto import wandb_internal_pb2

    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    block, pos, chunks, records = 32768, 7, b"", []
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header: padding
            pos += block - pos % block
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + 7])
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind in (1, 2):  # full, first
            chunks = chunk
        elif kind in (3, 4):  # middle, last
            chunks += chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(chunks)
            records.append(record)
    return records


def wandb_series(root: Path) -> tuple[Series, dict[str, int]]:
    """Every offline run under ``root``/wandb: its history rows' keys and steps (and the
    summary's ``final/`` figures, with no step)."""
    series: Series = {}
    images: dict[str, int] = {}
    for path in sorted(root.glob("wandb/offline-run-*/run-*.wandb")):
        steps: dict[str, list[int]] = defaultdict(list)
        name = None
        for record in wandb_records(path):
            kind = record.WhichOneof("record_type")
            if kind == "run":
                name = record.run.display_name
            elif kind == "history":
                keys = {item.key or item.nested_key[0] for item in record.history.item}
                for key in keys - {"samples"}:
                    if not key.startswith("_"):
                        steps[key].append(record.history.step.num)
                images[name] = images.get(name, 0) + ("samples" in keys)
            elif kind == "summary":  # the final figures: the run's summary, no step
                for item in record.summary.update:
                    key = item.key or "/".join(item.nested_key)
                    if key.startswith("final/"):
                        steps.setdefault(key, [])
        assert name not in series, f"{name} is in W&B twice"
        series[name] = dict(steps)
    return series, images
