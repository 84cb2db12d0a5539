"""Launchers: where a suite's runs execute (this process, torchrun processes, ...), one
registry entry each; importing this package registers every launcher."""

from ganbench.launchers import inline, ray, slurm, torchrun  # noqa: F401  (registration by import)
from ganbench.launchers.base import LAUNCHERS, Launcher, LauncherConfig, Observer
from ganbench.launchers.choose import choose_launcher

__all__ = ["LAUNCHERS", "Launcher", "LauncherConfig", "Observer", "choose_launcher"]
