"""`ganbench list`, `data fetch` and `weights ...`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ganbench.cli.app import app, data_app, weights_app
from ganbench.cli.console import console
from ganbench.errors import UserError


@app.command("list")
def list_registered(
    kind: Annotated[
        str | None,
        typer.Argument(help="datasets, models, losses, strategies or metrics (default: all)"),
    ] = None,
) -> None:
    """List the registered datasets, models, losses, strategies and metrics."""
    from ganbench.config import REGISTRIES

    if kind is not None and kind not in REGISTRIES:
        raise UserError(f"list: unknown kind {kind!r} (choose: {', '.join(REGISTRIES)})")
    chosen = REGISTRIES if kind is None else {kind: REGISTRIES[kind]}
    for name, registry in chosen.items():
        console.print(f"[bold]{name}[/]: {', '.join(registry.names())}")


@data_app.command("fetch")
def data_fetch(
    name: Annotated[str, typer.Argument(help="Dataset name, e.g. fashion-mnist.")],
    root: Annotated[
        Path | None, typer.Option(help="Data folder (default: $GANBENCH_DATA or ./data).")
    ] = None,
) -> None:
    """Copy (from a local Debian package) or download a dataset into the data folder."""
    from ganbench.data.base import default_data_root
    from ganbench.data.fetch import fetch_dataset

    console.print(fetch_dataset(name, root or default_data_root()))


@weights_app.command("install")
def weights_install(
    path: Annotated[Path, typer.Argument(help="A copy of pt_inception-2015-12-05-6726825d.pth.")],
    force: Annotated[
        bool,
        typer.Option("--force", help="Install even when the SHA-256 is not the official one."),
    ] = False,
) -> None:
    """Check a weights file (hash, tensor names and shapes) and copy it to torch's hub cache."""
    from ganbench.metrics.inception import install_weights

    info = install_weights(path, force)
    console.print(f"installed {info.path} ({info.size_bytes} bytes, sha256 {info.sha256[:16]}...)")


@weights_app.command("download")
def weights_download() -> None:
    """Download the official weights into torch's hub cache (needs the network)."""
    from ganbench.metrics.inception import download_weights

    info = download_weights()
    console.print(f"downloaded {info.path} ({info.size_bytes} bytes)")


@weights_app.command("status")
def weights_status(
    path: Annotated[Path | None, typer.Argument(help="Check this file instead.")] = None,
) -> None:
    """Where ganbench looks for the weights and what it finds there."""
    from ganbench.metrics.inception import find_weights, inspect_weights

    info = inspect_weights(find_weights(path, "weights"))
    verdict = "official" if info.official else "NOT the official file (values marked so)"
    console.print(f"{info.path}: {info.size_bytes} bytes, sha256 {info.sha256}, {verdict}")
