"""`ganbench list`, `suites`, `init`, `data fetch` and `weights ...`."""

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
    """List the registered datasets, models, losses, strategies and metrics (plugins
    included, with where each comes from); with KIND, each one's fields and defaults."""
    from ganbench.cli.render_results import print_registry
    from ganbench.config import REGISTRIES

    if kind is not None and kind not in REGISTRIES:
        raise UserError(f"list: unknown kind {kind!r} (choose: {', '.join(REGISTRIES)})")
    chosen = REGISTRIES if kind is None else {kind: REGISTRIES[kind]}
    for name, registry in chosen.items():
        print_registry(console, name, registry, fields=kind is not None)


@app.command("suites")
def suites() -> None:
    """List the built-in suites (by name from any folder: ganbench train-suite quick)."""
    from ganbench.cli.render_results import print_builtin_suites
    from ganbench.config.builtin import builtin_suites

    print_builtin_suites(console, builtin_suites())


@app.command("init")
def init(
    name: Annotated[str, typer.Argument(help="A built-in suite (ganbench suites lists them).")],
    dest: Annotated[
        str | None,
        typer.Argument(
            metavar="DEST", help="File, or folder (ending in /), to write (default: ./NAME.yaml)."
        ),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing file.")] = False,
) -> None:
    """Copy a built-in suite to edit, then train it: ganbench train-suite FILE."""
    from ganbench.config.builtin import copy_suite

    written = copy_suite(name, dest, force)
    console.print(
        f"wrote {written} (the built-in suite {name}): edit it, then "
        f"ganbench train-suite {written}",
        highlight=False,
    )


@data_app.command("fetch")
def data_fetch(
    name: Annotated[str, typer.Argument(help="Dataset name, e.g. fashion-mnist.")],
    root: Annotated[
        Path | None,
        typer.Option(help="Data folder (default: $GANBENCH_DATA, else data/ in ganbench's home)."),
    ] = None,
) -> None:
    """Copy (from a local Debian package) or download a dataset into the data folder."""
    from ganbench.data.fetch import fetch_dataset
    from ganbench.home import data_root, writable_folder

    console.print(fetch_dataset(name, writable_folder(root or data_root())))


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
    """Where ganbench looks for the weights and what it finds there (missing is a state,
    said with how to install them; exit 0)."""
    from ganbench.metrics.inception import (
        WEIGHTS_FILE,
        find_weights,
        how_to_provide,
        hub_weights_path,
        inspect_weights,
    )

    place = path if path is not None else hub_weights_path()
    if not place.exists():
        console.print(f"{place}: not there, so FID/IS cannot run ({WEIGHTS_FILE} missing)")
        console.print(f"to install them: {how_to_provide()}", highlight=False)
        return
    info = inspect_weights(find_weights(path, "weights"))
    verdict = "official" if info.official else "NOT the official file (values marked so)"
    console.print(f"{info.path}: {info.size_bytes} bytes, sha256 {info.sha256}, {verdict}")
