"""`ganbench check`'s steps past parsing: the baseline (a file, or the history's last N
points), the check, the confirmation re-run of what looks worse, the recording."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from ganbench.errors import UserError

CONFIRM_SUFFIX = "-confirm"  # the re-run's folder, beside the checked one
CONFIRMED = ("regression", "unproven")  # the verdicts a re-run must repeat to fail


class Gate:
    def __init__(
        self,
        folder: Path | None,
        baseline: Path | None,
        tolerance: str | None,
        allow_blind: bool,
        allow_mismatch: frozenset[str],
    ) -> None:
        self.folder, self.baseline_path = folder, baseline
        self.options = (tolerance, allow_blind, allow_mismatch)
        self.baseline: Path | dict[str, Any] | None = None
        self.db: str | None = None
        self.confirmation: Path | None = None

    def prepare(self, history: int | None, db: str | None, out: Console) -> None:
        """Choose the folder and the baseline: the file named (or the suite's default),
        or with ``history`` the last N recorded points of each configuration."""
        from ganbench.report.choose import check_inputs, newest_folder

        self.db = db
        if history is None:
            self.folder, self.baseline, why = check_inputs(self.folder, self.baseline_path)
            if why:
                out.print(why, highlight=False)
            return
        if self.baseline_path is not None:
            raise UserError("check: give --baseline FILE or --history N, not both")
        if self.folder is None:
            self.folder, why = newest_folder(command="check")
            out.print(why, highlight=False)
        from ganbench.history.baseline import baseline_from_history
        from ganbench.history.db import open_database

        engine = open_database(db)
        self.baseline = baseline_from_history(engine, self.folder, history, self.options[2])

    def check(self, folder: Path | None = None) -> Any:
        from ganbench.report.check import check

        tolerance, allow_blind, allow_mismatch = self.options
        return check(self.baseline, folder or self.folder, tolerance, allow_blind, allow_mismatch)

    def confirm(self, result: Any, out: Console) -> Any:
        """Train the configurations called worse once more (a folder beside the checked
        one) and check that: a verdict stands only where the re-run repeats it."""
        worse = sorted({v.configuration for v in result.verdicts if v.verdict in CONFIRMED})
        if not worse:
            return result
        out.print(f"confirming: training {', '.join(worse)} once more", highlight=False)
        output = self.folder.with_name(self.folder.name + CONFIRM_SUFFIX)
        try:
            retrain(self.folder, worse, output, out)
        except typer.Exit as ended:
            if ended.exit_code != 1:  # stopped (Ctrl-C, a signal): stop here too
                raise
            result.warnings.append(
                f"the confirmation re-run in {output} did not finish every run (see its "
                "runs): the first verdicts stand"
            )
            return result
        self.confirmation = output
        return confirmed(result, self.check(output), output)

    def record(self, out: Console) -> None:
        from ganbench.history.db import open_database
        from ganbench.history.record import record_folder

        engine = open_database(self.db)
        for folder, purpose in ((self.folder, "check"), (self.confirmation, "confirm")):
            if folder is not None:
                done = record_folder(engine, folder, purpose)
                out.print(f"history: {done.new_runs} new run(s) of {folder}", highlight=False)


def retrain(folder: Path, configurations: list[str], output: Path, out: Console) -> None:
    """``configurations``' runs of ``folder`` trained again from their stored settings,
    into ``output`` (fresh); typer.Exit as train-suite's when a run did not finish."""
    from ganbench.cli.train import train_loaded
    from ganbench.config.schema import RunConfig, Suite
    from ganbench.launchers import choose_launcher
    from ganbench.results import RunStore, read_suite_meta

    meta = read_suite_meta(folder)
    runs = []
    for path in sorted(folder.glob("*/config.yaml")):
        config = RunStore(path.parent).read_config() or {}
        if config.get("name") in configurations:
            runs.append(RunConfig.model_validate(config))
    source = Path(meta.get("source") or folder / "suite.yaml")
    suite = Suite(name=meta.get("name") or folder.name, source=source, output_dir=output,
                  baseline=None, runs=runs)  # fmt: skip
    train_loaded(suite, choose_launcher(suite.launcher, source, None, None), True, False, out=out)


def confirmed(first: Any, again: Any, folder: Path) -> Any:
    """The first check's verdicts, a worse one kept only where the re-run's verdict of the
    same figure is worse too (else ``not confirmed``, a pass), the re-run's figures beside."""
    from ganbench.report.check import CheckResult

    repeated = {(v.configuration, v.figure): v for v in again.verdicts}
    for v in first.verdicts:
        if v.verdict not in CONFIRMED:
            continue
        other = repeated.get((v.configuration, v.figure))
        if other is None or other.verdict not in CONFIRMED:
            v.verdict = "not confirmed"
        else:
            v.verdict = f"{v.verdict} (confirmed)"
        v.current += f"; re-run {other.current if other else '-'}"
    warnings = [*first.warnings, f"worse figures re-run in {folder}"]
    still = {v.configuration for v in first.verdicts if v.failed}
    causes = [t for t in first.causes if t.title.split(":")[0] in still]
    return CheckResult(first.verdicts, warnings, causes)
