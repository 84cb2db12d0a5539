"""What `ganbench latency` writes: ``latency.json`` (generator, settings, environment and
one row per precision x compile x batch size), ``latency.csv`` (the rows) and, beside
them, ``latency.png``. Reports read these files back with ``read_latency``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ganbench.errors import UserError
from ganbench.results.store import write_atomic

if TYPE_CHECKING:
    import pandas as pd

KIND, FORMAT = "ganbench-latency", 1
JSON_FILE, CSV_FILE, PLOT_FILE = "latency.json", "latency.csv", "latency.png"

# A row: what was measured, then its figures (units in the names; null when not measured).
ROW_IDENTITY = ("generator", "precision", "compile", "channels_last", "batch_size", "status")
ROW_IDENTITY += ("reason",)
ROW_FIGURES = (
    "warmup_calls",
    "warmup_s",
    "warmup_steady",
    "first_call_s",
    "output_finite",
    "latency_count",
    "latency_mean_s",
    "latency_std_s",
    "latency_min_s",
    "latency_p50_s",
    "latency_p50_ci_s",
    "latency_p50_reason",
    "latency_p90_s",
    "latency_p90_ci_s",
    "latency_p90_reason",
    "latency_p99_s",
    "latency_p99_ci_s",
    "latency_p99_reason",
    "latency_max_s",
    "per_image_latency_s",
    "images_per_s",
    "blocked_calls",
    "blocked_s",
    "blocked_images_per_s",
    "weights_bytes",
    "peak_cuda_alloc_bytes",
    "peak_cuda_reserved_bytes",
    "rss_growth_bytes",
    "latency_ratio",  # several generators: mean call time over the first's, same row
    "latency_ratio_ci",
    "timer",
    "timer_resolution_s",
)
ROW_FIELDS = ROW_IDENTITY + ROW_FIGURES
# An interval ([low, high] in latency.json) is two columns in latency.csv.
INTERVALS = tuple(f for f in ROW_FIELDS if f.endswith(("_ci_s", "_ci")))


@dataclass
class LatencyResult:
    """Everything `ganbench latency` writes to latency.json."""

    generator: dict[str, Any]
    settings: dict[str, Any]
    device: str
    environment: dict[str, Any]
    created: str
    spectral_norm_folded: int
    generators: list[dict[str, Any]] = field(default_factory=list)  # each one timed
    rows: list[dict[str, Any]] = field(default_factory=list)
    interrupted: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {"kind": KIND, "format": FORMAT, **asdict(self)}


def default_output_dir(root: Path = Path("reports") / "latency") -> Path:
    """reports/latency/<YYYYmmdd-HHMMSS>/, suffixed when that folder exists."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    folder, n = root / stamp, 1
    while folder.exists():
        n += 1
        folder = root / f"{stamp}-{n}"
    return folder


def write_latency(folder: Path, result: LatencyResult) -> None:
    """latency.json and latency.csv, each replaced atomically (called after every row)."""
    document = result.as_dict()
    write_atomic(folder / JSON_FILE, json.dumps(document, indent=2) + "\n")
    frame = latency_frame(result.rows)
    models = {g["label"]: g["model"]["name"] for g in result.generators or [result.generator]}
    frame.insert(
        0,
        "model",
        [models.get(label, result.generator["model"]["name"]) for label in frame["generator"]],
    )
    frame.insert(1, "device", result.device)
    write_atomic(folder / CSV_FILE, frame.convert_dtypes().to_csv(index=False))


def latency_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """The rows as a pandas frame, each interval ``*_ci_s`` (``*_ci``) split into
    ``*_ci_low_s`` and ``*_ci_high_s`` (``*_ci_low``, ``*_ci_high``) columns in its place."""
    import pandas as pd

    frame = pd.DataFrame(rows, columns=list(ROW_FIELDS))
    for name in INTERVALS:
        at = frame.columns.get_loc(name)
        pairs = [v if isinstance(v, list | tuple) else (None, None) for v in frame.pop(name)]
        stem, unit = (name[:-2], "_s") if name.endswith("_s") else (name, "")
        frame.insert(at, f"{stem}_high{unit}", [high for _, high in pairs])
        frame.insert(at, f"{stem}_low{unit}", [low for low, _ in pairs])
    return frame


def read_latency(path: Path, option: str = "--latency") -> dict[str, Any]:
    """A latency.json (or the folder holding one); UserError naming ``option`` when it is
    missing or not ganbench's."""
    file = path / JSON_FILE if path.is_dir() else path
    try:
        doc = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        raise UserError(
            f"{option} {path}: no readable {JSON_FILE} (run ganbench latency)"
        ) from None
    if not isinstance(doc, dict) or doc.get("kind") != KIND:
        raise UserError(f"{option} {path}: not a ganbench latency result")
    return doc


def generator_names(document: dict[str, Any]) -> str:
    """``sagan generator``, or ``generators a.pt2, b.onnx`` when several were timed."""
    several = document.get("generators") or []
    if len(several) > 1:
        return "generators " + ", ".join(g["label"] for g in several)
    return f"{document['generator']['model']['name']} generator"


def ratio_text(row: dict[str, Any]) -> str:
    """``0.84x [0.80, 0.88]``: a row's mean call time over the first generator's."""
    ratio, ci = row.get("latency_ratio"), row.get("latency_ratio_ci")
    if ratio is None:
        return "-"
    return f"{ratio:.2f}x" + (f" [{ci[0]:.2f}, {ci[1]:.2f}]" if ci else "")
