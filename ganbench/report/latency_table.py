"""The generation latency table of a latency.json (``report --latency``)."""

from __future__ import annotations

from typing import Any

from ganbench.report.table import Table, fmt
from ganbench.results.latency import generator_names, ratio_text


def latency_table(doc: dict[str, Any]) -> Table:
    """A latency.json's rows; with several generators, each row's generator and its mean
    call time against the first's."""
    several = len(doc.get("generators") or []) > 1
    headers = ["generator"] if several else []
    headers += ["precision", "compile", "channels_last", "batch", "status", "calls", "p50"]
    headers += ["p99", "per image", "images/s", "images/s blocked"]
    headers += ["x 1st [95%]"] if several else []
    rows = [
        [
            *([r["generator"]] if several else []),
            r["precision"],
            r["compile"],
            "yes" if r.get("channels_last") else "no",
            str(r["batch_size"]),
            r["status"],
            fmt(r.get("latency_count")),
            fmt(r["latency_p50_s"], 1e-3, " ms"),
            fmt(r["latency_p99_s"], 1e-3, " ms"),
            fmt(r["per_image_latency_s"], 1e-3, " ms"),
            fmt(r["images_per_s"]),
            fmt(r.get("blocked_images_per_s")),  # absent in latency.json before it was kept
            *([ratio_text(r)] if several else []),
        ]
        for r in doc["rows"]
    ]
    where = doc["environment"].get("gpu_name") or doc["environment"].get("cpu_model")
    gen = doc["generator"]
    what = generator_names(doc) if several else f"{gen['model']['name']} ({gen['weights']})"
    title = f"generation latency: {what} on {doc['device']} ({where})"
    return Table(title, headers, rows)
