"""Implementation levers on the CPU: bf16 autocast under every strategy, channels_last
reaching the convolutions, CUDA-only levers skipped with a reason, flags restored."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from ganbench.levers import LeversConfig, applied_levers
from ganbench.results import RunStore
from ganbench.session import build_session
from ganbench.strategies import STRATEGIES
from ganbench.train import train_run
from tests.conftest import mixture_run

CPU = torch.device("cpu")


def image_run(**overrides):
    return mixture_run(
        dataset={"name": "synthetic", "num_samples": 64, "image_size": 16, "channels": 1},
        model={"name": "sagan", "width": 0.125, "latent_dim": 8},
        loss={"name": "hinge"},
        budget={"iterations": 4},
        **overrides,
    )


def first_conv(module: nn.Module) -> nn.Module:
    return next(m for m in module.modules() if isinstance(m, nn.Conv2d | nn.ConvTranspose2d))


@pytest.mark.parametrize("strategy", STRATEGIES.names())
def test_bf16_autocast_runs_every_strategy(tmp_path: Path, strategy: str) -> None:
    run = image_run(strategy={"name": strategy}, levers={"precision": "amp-bf16"})
    with applied_levers(run.levers, CPU, image_data=True) as levers:
        session = build_session(run, CPU, levers)
        seen: list[torch.dtype] = []
        first_conv(session.D).register_forward_hook(lambda m, a, out: seen.append(out.dtype))
        for _ in range(3):
            losses = session.strategy.step()
        assert seen and set(seen) == {torch.bfloat16}  # D computed in bf16
        assert torch.isfinite(losses.d_loss) and torch.isfinite(losses.g_loss)
        params = [*session.G.parameters(), *session.D.parameters()]
        assert {p.dtype for p in params} == {torch.float32}  # master weights stay fp32
    summary = train_run(run, RunStore(tmp_path / "run"), CPU)
    assert summary["status"] == "finished", summary["reason"]
    assert summary["levers"]["precision"] == "amp-bf16" and summary["levers_skipped"] == {}


def test_bf16_gradients_are_close_to_fp32_ones() -> None:
    """Same models, same batch: autocast changes the arithmetic, not what is computed."""
    grads = {}
    for precision in ("fp32", "amp-bf16"):
        run = image_run(levers={"precision": precision})
        with applied_levers(run.levers, CPU, image_data=True) as levers:
            session = build_session(run, CPU, levers)
            real, z = session.batches.next(), session.noise(64)
            grads[precision], _ = session.strategy.oracle.discriminator(
                session.G, session.D, real, z
            )
    fp32 = torch.cat([g.flatten() for g in grads["fp32"]])
    bf16 = torch.cat([g.flatten() for g in grads["amp-bf16"]])
    cosine = torch.nn.functional.cosine_similarity(fp32, bf16, dim=0)
    assert 0.98 < cosine < 1.0  # close, and not bit-identical (bf16 really was used)


def test_channels_last_reaches_models_and_batches() -> None:
    run = image_run(levers={"channels_last": True})
    with applied_levers(run.levers, CPU, image_data=True) as levers:
        session = build_session(run, CPU, levers)
        inputs: list[bool] = []
        conv = first_conv(session.D)
        conv.register_forward_hook(
            lambda m, a, out: inputs.append(a[0].is_contiguous(memory_format=torch.channels_last))
        )
        assert conv.weight.is_contiguous(memory_format=torch.channels_last)
        session.strategy.step()
        assert inputs and all(inputs)
    mlp = mixture_run(levers={"channels_last": True})
    with applied_levers(mlp.levers, CPU, image_data=False) as levers:
        assert not levers.channels_last
        assert levers.skipped == {"channels_last": "the data are not images (no 4-D tensors)"}


def test_cuda_only_levers_are_skipped_on_the_cpu_with_a_reason(tmp_path: Path) -> None:
    flags = (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32)
    run = image_run(levers={"cudnn_benchmark": True, "tf32": True})
    summary = train_run(run, RunStore(tmp_path / "run"), CPU)
    assert summary["status"] == "finished"
    assert set(summary["levers_skipped"]) == {"cudnn_benchmark", "tf32"}
    assert "needs CUDA" in summary["levers_skipped"]["cudnn_benchmark"]
    assert (torch.backends.cudnn.benchmark, torch.backends.cuda.matmul.allow_tf32) == flags


def test_backend_flags_hold_for_one_run_and_are_restored_after_a_failure() -> None:
    before = (
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cuda.matmul.allow_tf32,
    )
    config = LeversConfig(cudnn_benchmark=True, tf32=not before[2])
    with pytest.raises(RuntimeError), applied_levers(config, torch.device("cuda"), True) as lev:
        assert torch.backends.cudnn.benchmark is True  # set for the run (a flag: no GPU needed)
        assert torch.backends.cuda.matmul.allow_tf32 is (not before[2])
        assert lev.skipped == {}
        raise RuntimeError("the run failed")
    after = (
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.allow_tf32,
        torch.backends.cuda.matmul.allow_tf32,
    )
    assert after == before


@pytest.mark.parametrize("strategy", ["alternating", "srfb", "svre"])
def test_grad_accumulation_trains_the_same_parameters_as_the_whole_batch(strategy) -> None:
    """k=4 micro-batches of 16 against one batch of 64, 5 steps, on a model without batch
    norm (SVRE's full-batch snapshot mean included)."""
    params = {}
    for k in (1, 4):
        run = mixture_run(
            strategy={"name": strategy},
            batch={"size": 64},
            levers={"grad_accumulation": k},
            dataset={"name": "gaussian-mixture", "num_samples": 256, "std": 0.1},
        )
        session = build_session(run, CPU)
        assert session.strategy.oracle.micro_batch == (None if k == 1 else 16)
        for _ in range(5):
            session.strategy.step()
        params[k] = [p.detach().clone() for p in [*session.G.parameters(), *session.D.parameters()]]
    for whole, parts in zip(params[1], params[4], strict=True):
        torch.testing.assert_close(parts, whole, rtol=1e-4, atol=1e-5)


def test_grad_accumulation_follows_batch_growth_and_must_divide_every_size() -> None:
    run = mixture_run(
        batch={"size": 32, "milestones": [{"iteration": 2, "size": 64}]},
        levers={"grad_accumulation": 4},
    )
    session = build_session(run, CPU)
    assert session.strategy.oracle.micro_batch == 8
    session.set_batch_size(64)
    assert session.strategy.oracle.micro_batch == 16  # still 4 micro-batches per step
    with pytest.raises(ValueError, match="4 micro-batches do not divide batch size 30"):
        mixture_run(batch={"size": 30}, levers={"grad_accumulation": 4})
