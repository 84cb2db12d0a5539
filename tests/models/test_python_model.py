"""The user's own networks (``model: {name: python, ...}``): a package written to a
temporary folder trains through ganbench as the built-in families do, and every way it
can be wrong is one line before anything is written."""

from __future__ import annotations

import itertools
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from ganbench.results import RunStore
from ganbench.run.train import train_run
from tests.cli.test_commands import invoke
from tests.conftest import mixture_run
from tests.run.test_train import assert_same_parameters, crash_and_resume

CPU = torch.device("cpu")
_names = itertools.count()

NETS = '''
import torch
from torch import nn


class Generator(nn.Module):
    def __init__(self, latent: int = 8, hidden: int = 32, out: int = 2):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent, hidden), nn.ReLU(), nn.Linear(hidden, out))

    def forward(self, z):
        return self.net(z.flatten(1))


class Discriminator(nn.Module):
    """Scores as (n, 1), as many user discriminators give them."""

    def __init__(self, hidden: int = 32):
        super().__init__()
        self.net = nn.Sequential(
            nn.utils.spectral_norm(nn.Linear(2, hidden)), nn.LeakyReLU(0.2), nn.Linear(hidden, 1)
        )

    def forward(self, x):
        return self.net(x)


class Raises(nn.Module):
    def __init__(self):
        super().__init__()
        raise RuntimeError("hidden size must be even")


class WrongShape(Generator):
    def __init__(self, latent: int = 8):
        super().__init__(latent=latent, out=3)


class ManyScores(nn.Module):
    def __init__(self):
        super().__init__()
        self.l = nn.Linear(2, 10)

    def forward(self, x):
        return self.l(x)


class Empty(nn.Module):
    def forward(self, x):
        return x.sum(1)
'''


@pytest.fixture
def package(tmp_path: Path) -> tuple[str, Path]:
    """A package of the user's networks under tmp_path/src (a name of its own per test:
    imported modules stay imported)."""
    name = f"usergan{next(_names)}_{tmp_path.name.replace('-', '_')}"
    folder = tmp_path / "src" / name
    folder.mkdir(parents=True)
    (folder / "__init__.py").write_text("")
    (folder / "nets.py").write_text(textwrap.dedent(NETS))
    return name, tmp_path / "src"


def user_model(package: tuple[str, Path], **roles: str) -> dict[str, Any]:
    name, src = package
    return {
        "name": "python",
        "generator": {"_target_": f"{name}.nets.{roles.get('g', 'Generator')}", "latent": 8},
        "discriminator": {"_target_": f"{name}.nets.{roles.get('d', 'Discriminator')}"},
        "latent_shape": [8],
        "path": str(src),
    }


def suite_file(tmp_path: Path, model: dict[str, Any], **defaults: Any) -> Path:
    """A one-run suite ("mine") of ``model`` on a 2-D mixture, output in tmp_path/out."""
    suite = {
        "name": "mine",
        "output_dir": str(tmp_path / "out"),
        "defaults": {
            "dataset": {"name": "gaussian-mixture", "num_samples": 256},
            "model": model,
            "batch": {"size": 32},
            "device": "cpu",
            **defaults,
        },
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite))
    return path


@pytest.mark.parametrize(
    "overrides",
    [
        {"strategy": {"name": "alternating"}},
        {"strategy": {"name": "srfb"}},
        {"strategy": {"name": "svre"}, "levers": {"grad_accumulation": 2}},
        {"levers": {"precision": "amp-bf16"}},
    ],
    ids=["alternating", "srfb", "svre-accumulate-2", "bf16"],
)
def test_the_users_networks_train_under_every_strategy(package, tmp_path, overrides) -> None:
    run = mixture_run(model=user_model(package), **overrides)
    s = train_run(run, RunStore(tmp_path / "run"), CPU)
    assert s.status == "finished", s.reason
    assert s.iterations == 20 and s.flops_per_iteration > 0 and s.levers_skipped == {}
    assert s.final_d_loss is not None


def test_the_users_networks_resume_bit_identically_after_a_crash(package, tmp_path) -> None:
    run = mixture_run(model=user_model(package), strategy={"name": "srfb"})
    reference, crashed, resumed = crash_and_resume(run, tmp_path)
    assert resumed.status == "finished" and resumed.iterations == 20
    assert_same_parameters(crashed, reference)


def test_four_dimensional_noise_reaches_the_generator(package, tmp_path) -> None:
    model = {**user_model(package), "latent_shape": [8, 1, 1]}
    run = mixture_run(model=model)
    assert run.model.noise_shape() == (8, 1, 1) and run.model.latent_dim == 8
    s = train_run(run, RunStore(tmp_path / "run"), CPU)
    assert s.status == "finished", s.reason


@pytest.mark.parametrize(
    ("roles", "message"),
    [
        (
            {"g": "Missing"},
            "model.generator._target_ {pkg}.nets.Missing: {pkg}.nets has no attribute 'Missing'",
        ),
        (
            {"d": "Raises"},
            "model.discriminator: {pkg}.nets.Raises(...) raised RuntimeError: hidden size must "
            "be even",
        ),
        (
            {"g": "WrongShape"},
            "model.generator: {pkg}.nets.WrongShape gives (2, 3) for a batch of 2 (on the meta "
            "device); the dataset's examples are (2,), so it should give (2, 2)",
        ),
        (
            {"d": "ManyScores"},
            "model.discriminator: {pkg}.nets.ManyScores gives (2, 10) for a batch of 2; "
            "expected one value per example: (2,) or (2, 1)",
        ),
        ({"d": "Empty"}, "model.discriminator: {pkg}.nets.Empty holds no parameters to train"),
    ],
    ids=["no-attribute", "constructor-raises", "wrong-shape", "many-scores", "no-parameters"],
)
def test_a_bad_model_is_one_line_before_anything_is_written(package, tmp_path, roles, message):
    out = tmp_path / "out"
    path = suite_file(tmp_path, user_model(package, **roles), budget={"iterations": 4})
    result = invoke("train-suite", str(path))
    assert result.exit_code == 2
    text = " ".join(result.output.split())
    assert message.format(pkg=package[0]) in text, text
    assert "Traceback" not in result.output and not out.exists()


def test_an_import_error_names_the_module_and_the_errors_last_line(package, tmp_path) -> None:
    name, src = package
    (src / name / "broken.py").write_text("import numpy\nraise ImportError('needs CUDA 13')\n")
    model = {**user_model(package), "generator": {"_target_": f"{name}.broken.G"}}
    with pytest.raises(ValueError, match=rf"cannot import {name}\.broken: ImportError: needs CUDA"):
        mixture_run(model=model)
    with pytest.raises(ValueError, match=r"model.path: .*nowhere: no such folder"):
        mixture_run(model={**user_model(package), "path": str(tmp_path / "nowhere")})
    with pytest.raises(ValueError, match="expected the import path of a class or function"):
        mixture_run(model={**user_model(package), "generator": {"_target_": "Generator"}})


@pytest.mark.slow
def test_the_users_networks_under_ddp_and_then_timed_by_latency(package, tmp_path) -> None:
    """Two gloo processes import the package through model.path as the suite's process
    did; the trained generator is then timed from its checkpoint."""
    out = tmp_path / "out"
    path = suite_file(
        tmp_path,
        user_model(package),
        strategy={"name": "srfb"},
        levers={"parallel": "ddp"},
        budget={"iterations": 6},
        log_every=2,
    )
    result = invoke("train-suite", str(path), "--nproc-per-node", "2")
    assert result.exit_code == 0, result.output
    store = RunStore(out / "mine-seed0")
    summary = store.read_summary()
    assert summary["world_size"] == 2 and summary["ranks_in_sync"] is True
    timed = invoke(
        "latency", "--checkpoint", str(store.checkpoint), "--batch-sizes", "1,4",
        "--repeats", "3", "--output", str(tmp_path / "lat"),
    )  # fmt: skip
    assert timed.exit_code == 0, timed.output
    assert "python" in (tmp_path / "lat" / "latency.csv").read_text()


def test_a_checkpoint_of_networks_that_cannot_be_imported_here_says_so(package, tmp_path):
    from ganbench.errors import UserError
    from ganbench.latency.sources import generator_from_checkpoint

    model = {k: v for k, v in user_model(package).items() if k != "path"}
    name, src = package
    import sys

    sys.path.insert(0, str(src))  # importable while it trains (as from its own folder)
    try:
        store = RunStore(tmp_path / "run")
        assert train_run(mixture_run(model=model), store, CPU).status == "finished"
    finally:
        sys.path.remove(str(src))
        for module in [m for m in sys.modules if m.startswith(name)]:
            del sys.modules[module]
    with pytest.raises(UserError, match=rf"cannot import {name}.nets: ModuleNotFoundError.*run"):
        generator_from_checkpoint(store.checkpoint)
