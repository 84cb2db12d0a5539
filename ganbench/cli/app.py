"""The Typer app and its command groups. A ``UserError`` raised anywhere below a command is
caught once, here: its message alone on stderr, exit code 2 (no traceback); a full disk
likewise, with exit code 1."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from ganbench import __version__
from ganbench.cli.console import console, err_console
from ganbench.errors import UserError, classify_failure, storage_error


def _plain_flags(params: list[Any]) -> list[Any]:
    """Help without Python types: a flag takes no value (no ``<bool>``), and an argument
    named by its metavar (``FOLDER``) needs no ``<list[Path]>`` beside it."""
    for param in params:
        if getattr(param, "is_flag", False) and param.metavar is None:
            param.metavar = ""
        elif isinstance(param, typer.core.TyperArgument) and param.metavar:
            param.display_type_rich = lambda ctx: None
    return params


def _usage_error(err: Any) -> None:
    message = (err.format_message() if hasattr(err, "format_message") else str(err)).rstrip(".")
    ctx = getattr(err, "ctx", None)
    where = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
    err_console.print(
        f"[bold red]error:[/] {escape(message)}{escape(where)}", highlight=False, soft_wrap=True
    )


class _Commands(TyperGroup):
    """ganbench's command groups: a user error anywhere below becomes one message and exit
    code 2; help shows flags without a value type."""

    def main(self, *args: Any, standalone_mode: bool = True, **kwargs: Any) -> Any:
        """As Typer's, but a usage mistake (unknown option, missing argument, bad value)
        is one ``error:`` line like every other ganbench error, with where to look."""
        if not standalone_mode:
            return super().main(*args, standalone_mode=False, **kwargs)
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
        except typer.TyperException as err:  # typer's click: usage errors
            if type(err).__name__ != "NoArgsIsHelpError":  # help already printed
                _usage_error(err)
            sys.exit(err.exit_code)
        except typer.Abort:
            err_console.print("[bold red]error:[/] aborted", highlight=False)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def get_params(self, ctx: typer.Context) -> list[Any]:
        return _plain_flags(super().get_params(ctx))

    def get_command(self, ctx: typer.Context, name: str) -> Any:
        command = super().get_command(ctx, name)
        if command is not None:
            _plain_flags(command.get_params(ctx))
        return command

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
data_app = typer.Typer(
    cls=_Commands, help="Get datasets ready for offline runs.", no_args_is_help=True
)
selftest_app = typer.Typer(
    cls=_Commands, help="Check ganbench's own measurements.", no_args_is_help=True
)
baseline_app = typer.Typer(
    cls=_Commands, help="Baselines for `ganbench check`.", no_args_is_help=True
)
weights_app = typer.Typer(
    cls=_Commands, help="The FID/IS Inception weights (never downloaded unasked)."
)
history_app = typer.Typer(
    cls=_Commands,
    help="Every figure's history across commits and machines: record, show, find change "
    "points, publish a dashboard.",
    no_args_is_help=True,
)
app.add_typer(data_app, name="data")
app.add_typer(selftest_app, name="selftest")
app.add_typer(baseline_app, name="baseline")
app.add_typer(weights_app, name="weights")
app.add_typer(history_app, name="history")


def _version(value: bool) -> None:
    if value:
        console.print(version_lines(), highlight=False)
        raise typer.Exit()


def version_lines() -> str:
    """ganbench's version, torch's and CUDA's (the build's, and the devices it sees)."""
    import platform

    import torch

    if torch.version.cuda is None:
        cuda = "a CPU build"
    else:
        count = torch.cuda.device_count()
        seen = f"{count} device(s): {torch.cuda.get_device_name(0)}" if count else "no device"
        cuda = f"CUDA {torch.version.cuda}, {seen}"
    return (
        f"ganbench {__version__}\ntorch {torch.__version__} ({cuda})\n"
        f"python {platform.python_version()}"
    )


@app.callback()
def main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_version,
            is_eager=True,
            help="Print ganbench's, torch's and CUDA's versions.",
        ),
    ] = False,
) -> None:
    """ganbench: which way of training or running this GAN is cheapest for the quality I need?"""
    from ganbench.home import migrate_legacy_data

    migrate_legacy_data(lambda line: err_console.print(f"note: {line}", highlight=False))
