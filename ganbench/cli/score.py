"""`ganbench score`: parse, delegate, render (a progress bar on stderr while it works)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from ganbench.cli.app import app
from ganbench.cli.console import console, err_console, fmt, show, table


class ScoreFormat(str, Enum):
    table = "table"
    json = "json"


class DeviceChoice(str, Enum):
    auto = "auto"
    cpu = "cpu"
    cuda = "cuda"


SourceArgument = Annotated[
    str,
    typer.Argument(
        metavar="SOURCE",
        help="A folder of images (PNG, JPEG ..., recursively), an .npz of images, a ganbench "
        "run folder or checkpoint.pt, or a generator: an ONNX file, a TorchScript archive, "
        "a torch.export .pt2, a state dict (with --model) or pkg.module:function.",
    ),
]
Metrics = Annotated[
    str | None,
    typer.Option(
        help="Metrics to score, e.g. fid,kid,is or fd_classifier (default: a run's own, else "
        "fid,kid,is)."
    ),
]
Reference = Annotated[
    str | None,
    typer.Option(
        metavar="DATASET[:SPLIT]",
        help="The real images: a dataset and split (fashion-mnist, cifar10:train; split "
        "default test) or a folder of images (default: a run's own dataset, else "
        "fashion-mnist), brought to the samples' size and channels as a run sees it.",
    ),
]
ReferenceSamples = Annotated[
    int | None, typer.Option(min=2, help="Reference images: a fixed seeded choice (default all).")
]
ReferenceStats = Annotated[
    Path | None,
    typer.Option(
        help="FID (and KID) against this .npz of the reference's mu and sigma (pytorch-fid's "
        "format; KID needs ganbench's, which holds the features) instead of --reference."
    ),
]
NumSamples = Annotated[
    int | None,
    typer.Option(
        min=1, help="Samples scored (default: every image; a generator 10000, a run its own)."
    ),
]
BatchSize = Annotated[
    int | None,
    typer.Option(min=1, help="Samples per generator call and per Inception pass."),
]
Seed = Annotated[
    int | None,
    typer.Option(min=0, help="A generator's noise seed (default 0; a run: its evaluation noise)."),
]
InceptionWeights = Annotated[
    Path | None, typer.Option(help="The FID/KID/IS Inception weights file to use.")
]
LatentShape = Annotated[
    str | None,
    typer.Option(
        help="A generator file's noise shape, e.g. 512 or 100,1,1 (default: the file's, else 128)."
    ),
]
ModelName = Annotated[
    str | None, typer.Option(help="A state dict's architecture (a registered model family).")
]
Sets = Annotated[
    list[str],
    typer.Option("--set", metavar="PATH=VALUE", help="With --model: a model.* field."),
]
TrustCode = Annotated[
    bool,
    typer.Option("--trust-code", help="Unpickle a whole pickled module (runs its code)."),
]
Device = Annotated[DeviceChoice, typer.Option(help="auto, cpu or cuda.")]
FormatOption = Annotated[
    ScoreFormat,
    typer.Option("--format", help="table (for people) or json (on stdout; notes go to stderr)."),
]


@app.command("score")
def score(
    source: SourceArgument,
    metrics: Metrics = None,
    reference: Reference = None,
    reference_samples: ReferenceSamples = None,
    reference_stats: ReferenceStats = None,
    num_samples: NumSamples = None,
    batch_size: BatchSize = None,
    seed: Seed = None,
    inception_weights: InceptionWeights = None,
    latent_shape: LatentShape = None,
    model: ModelName = None,
    set_: Sets = [],  # noqa: B006  (Typer reads the default)
    trust_code: TrustCode = False,
    device: Device = DeviceChoice.auto,
    fmt_: FormatOption = ScoreFormat.table,
) -> None:
    """Quality of a folder or .npz of images, or of a generator: FID, KID, IS or
    fd_classifier against a reference, each value with its protocol, scored by the code
    training-time evaluation uses (a ganbench run: by default exactly as its last
    evaluation scored it)."""
    from ganbench.score.settings import ScoreSettings, parse_latent_shape

    settings = ScoreSettings.from_options(
        metrics,
        reference,
        reference_samples=reference_samples,
        reference_stats=reference_stats,
        num_samples=num_samples,
        batch_size=batch_size,
        seed=seed,
        inception_weights=inception_weights,
    )
    shape = parse_latent_shape(latent_shape)
    from ganbench.run.session import resolve_device
    from ganbench.score.measure import score as run_score
    from ganbench.score.sources import GeneratorOptions

    options = GeneratorOptions(shape, model, tuple(set_), trust_code)
    where = resolve_device(device.value, "--device")
    with _progress(err_console) as progress:
        result = run_score(source, options, settings, where, progress)
    document = result.as_dict()
    if fmt_ is ScoreFormat.json:
        from ganbench.cli.formats import emit, to_json

        for note in result.notes:
            err_console.print(f"note: {escape(note)}", highlight=False, soft_wrap=True)
        emit(to_json(document))
        return
    _print_scores(console, document)


@contextmanager
def _progress(out: Console) -> Iterator[Callable[[str, float, float], None]]:
    """A bar per long pass (reading, generating, features, classifier training) on a
    terminal's stderr, gone when scoring ends; nothing where stderr is not a terminal."""
    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    columns = (TextColumn("{task.description}"), BarColumn(), TaskProgressColumn())
    bar = Progress(
        *columns, TimeElapsedColumn(), console=out, transient=True, disable=not out.is_terminal
    )
    tasks: dict[str, Any] = {}

    def report(what: str, fraction: float, seconds: float) -> None:
        if what not in tasks:  # passes run one after another: the one before is done
            for task in tasks.values():
                bar.update(task, completed=1.0)
            tasks[what] = bar.add_task(escape(what), total=1.0)
        bar.update(tasks[what], completed=fraction)

    with bar:
        yield report


def _print_scores(out: Console, document: dict[str, Any]) -> None:
    """The values (a row each, with samples and reference), then the protocol's
    extractors and the time each part took."""
    src = document["source"]
    shape = "x".join(str(d) for d in src["sample_shape"])
    out.print(f"scores of {src['source']} ({src['kind']}, {shape}) on {document['device']}")
    for note in document["notes"]:
        out.print(f"note: {note}", highlight=False, soft_wrap=True, markup=False)
    rows = table("", ("value", "score", "std", "metric", "samples", "reference"))
    for column in rows.columns[3:]:
        column.justify = "left"
    for name, entry in document["metrics"].items():
        protocol = entry["protocol"]
        values = entry["values"]
        for value in (v for v in values if not v.endswith("_std")):
            spread = values.get(f"{value}_std")
            rows.add_row(
                value,
                fmt(values[value], ".6g"),
                fmt(spread, ".3g"),
                name,
                str(protocol.get("num_samples", "-")),
                _reference_text(protocol.get("reference")),
            )
    show(out, rows)
    for line in _extractor_lines(document["metrics"]):
        out.print(line, highlight=False, soft_wrap=True, markup=False)
    seconds = ", ".join(f"{part} {s:.1f} s" for part, s in document["seconds"].items())
    out.print(f"time: {seconds}", highlight=False)


def _reference_text(reference: dict[str, Any] | None) -> str:
    if not reference:
        return "-"
    if "stats_file" in reference:
        return f"{reference['stats_file']} (statistics)"
    grey = "grey" if reference.get("channels") == 1 else "colour"
    split = f" {reference['split']}" if reference.get("split") else ""
    return (
        f"{reference['dataset']}{split}, {reference['num_examples']} images, "
        f"{reference['image_size']} px {grey}"
    )


def _extractor_lines(metrics: dict[str, dict[str, Any]]) -> list[str]:
    """One line per feature extractor: its name, weights (hash, official or not), input."""
    lines: dict[str, list[str]] = {}
    for name, entry in metrics.items():
        p = entry["protocol"]
        if "feature_extractor" not in p:
            continue
        text = p["feature_extractor"]
        if "weights_sha256" in p:
            official = "official" if p["weights_official"] else "NOT the official file"
            text += f"; weights sha256 {p['weights_sha256'][:12]} ({official})"
        if "classifier_test_accuracy" in p:
            text += f"; test accuracy {p['classifier_test_accuracy']:.3f}"
        if "input" in p:
            text += f"; input {p['input']}"
        lines.setdefault(text, []).append(name)
    return [f"{', '.join(names)}: {text}" for text, names in lines.items()]
