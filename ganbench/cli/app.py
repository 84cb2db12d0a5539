"""The Typer app and its command groups. A ``UserError`` raised anywhere below a command is
caught once, here: its message alone on stderr, exit code 2 (no traceback); a full disk
likewise, with exit code 1."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from ganbench import __version__
from ganbench.cli.console import console, err_console
from ganbench.errors import UserError, classify_failure, storage_error


class _Commands(TyperGroup):
    """ganbench's top-level group: turns a user error into one message and exit code 2."""

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UserError as err:
            err_console.print(
                f"[bold red]error:[/] {escape(str(err))}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(code=UserError.exit_code) from None
        except OSError as err:
            if storage_error(err) is None:
                raise
            # A full disk outside a run (report, latency, baseline files): what and where,
            # no traceback; what was written before stays readable (atomic writes).
            message = classify_failure(err)[1]
            err_console.print(
                f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(code=1) from None


app = typer.Typer(
    cls=_Commands,
    name="ganbench",
    help="Benchmark and profile the efficiency of GAN training and generation in PyTorch.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
data_app = typer.Typer(help="Get datasets ready for offline runs.", no_args_is_help=True)
selftest_app = typer.Typer(help="Check ganbench's own measurements.", no_args_is_help=True)
baseline_app = typer.Typer(help="Baselines for `ganbench check`.", no_args_is_help=True)
weights_app = typer.Typer(help="The FID/IS Inception weights (never downloaded unasked).")
app.add_typer(data_app, name="data")
app.add_typer(selftest_app, name="selftest")
app.add_typer(baseline_app, name="baseline")
app.add_typer(weights_app, name="weights")


def _version(value: bool) -> None:
    if value:
        console.print(f"ganbench {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """ganbench: which way of training or running this GAN is cheapest for the quality I need?"""
