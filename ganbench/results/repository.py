"""The git repository a suite ran from: commit, branch, dirty flag and the commit's date,
written into the suite folder's suite.json by train-suite (for `ganbench history`)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any


def repository(where: Path | None = None) -> dict[str, Any]:
    """The git repository ``where`` (default: the working directory) is in: commit (12
    hex digits), branch, dirty flag and the commit's date; CI's variables name the branch
    of a detached checkout. Outside a repository: commit None."""
    cwd = str(where or Path.cwd())
    commit = git(cwd, "rev-parse", "--short=12", "HEAD")
    if commit is None:
        return {"commit": None, "branch": None, "dirty": False, "commit_time": None}
    branch = git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    if branch in (None, "HEAD"):
        branch = next(
            (os.environ[v] for v in BRANCH_VARIABLES if os.environ.get(v)), branch or "HEAD"
        )
    status = git(cwd, "status", "--porcelain", "--untracked-files=no")
    return {
        "commit": commit,
        "branch": branch,
        "dirty": bool(status),
        "commit_time": git(cwd, "show", "-s", "--format=%cI", "HEAD"),
    }


# A detached checkout's branch as CI systems name it (GitHub pull request, then push;
# GitLab; Buildkite).
BRANCH_VARIABLES = ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME", "BUILDKITE_BRANCH")


def git(cwd: str, *args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", cwd, *args], capture_output=True, text=True, timeout=10, check=True
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()
