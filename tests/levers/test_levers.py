"""Implementation levers on the CPU: bf16 autocast under every strategy, channels_last
reaching the convolutions, CUDA-only levers skipped with a reason, flags restored."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from ganbench.levers import AppliedLevers, LeversConfig, applied_levers
from ganbench.levers.precision import LossScaler
from ganbench.results import RunStore
from ganbench.run.session import build_session
from ganbench.run.train import train_run
from ganbench.strategies import STRATEGIES
from tests.conftest import mixture_run

CPU = torch.device("cpu")


def image_run(**overrides):
    base = {
        "dataset": {"name": "synthetic", "num_samples": 64, "image_size": 16, "channels": 1},
        "model": {"name": "sagan", "width": 0.125, "latent_dim": 8},
        "loss": {"name": "hinge"},
        "budget": {"iterations": 4},
    }
    return mixture_run(**{**base, **overrides})


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
    assert summary.status == "finished", summary.reason
    assert summary.levers["precision"] == "amp-bf16" and summary.levers_skipped == {}


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
    assert summary.status == "finished"
    assert set(summary.levers_skipped) == {"cudnn_benchmark", "tf32"}
    assert "needs CUDA" in summary.levers_skipped["cudnn_benchmark"]
    more = image_run(levers={"precision": "amp-fp16", "data_on_device": True, "parallel": "dp"})
    summary = train_run(more, RunStore(tmp_path / "more"), CPU)
    assert summary.status == "finished"
    skipped = summary.levers_skipped
    assert set(skipped) == {"precision", "data_on_device", "parallel"}
    assert "CUDA lever" in skipped["precision"] and "found 0" in skipped["parallel"]
    ddp = train_run(mixture_run(levers={"parallel": "ddp"}), RunStore(tmp_path / "ddp"), CPU)
    assert "--nproc-per-node" in ddp.levers_skipped["parallel"]
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


def moved(before, after) -> bool:
    """Whether any tensor differs between two equally long sequences."""
    return any(not torch.equal(a, b) for a, b in zip(before, list(after), strict=True))


def fp16_levers() -> AppliedLevers:
    """fp16 autocast with loss scaling, as a CUDA run gets it; the CPU runs fp16 autocast
    too (slowly), which is enough to check the arithmetic and the skipping."""
    return AppliedLevers(autocast_dtype=torch.float16, loss_scaling=True)


def test_loss_scaler_follows_grad_scaler_rule() -> None:
    scaler = LossScaler(scale=8.0, growth_interval=3)
    grads = [torch.full((2,), 16.0)]
    scaler.unscale(grads)
    assert grads[0].tolist() == [2.0, 2.0]
    assert scaler.update([torch.tensor([1.0, float("inf")])]) is False
    assert (scaler.scale, scaler.skipped) == (4.0, 1)
    assert scaler.update([torch.tensor([float("nan")])]) is False and scaler.scale == 2.0
    for _ in range(3):
        assert scaler.update(grads) is True
    assert scaler.scale == 4.0 and scaler.good_steps == 0  # grew after 3 finite steps


@pytest.mark.parametrize("strategy", STRATEGIES.names())
def test_fp16_autocast_with_loss_scaling_trains_every_strategy(strategy: str) -> None:
    run = image_run(strategy={"name": strategy})
    session = build_session(run, CPU, fp16_levers())
    seen: list[torch.dtype] = []
    first_conv(session.D).register_forward_hook(lambda m, a, out: seen.append(out.dtype))
    before = [p.detach().clone() for p in session.G.parameters()]
    for _ in range(4):
        losses = session.strategy.step()
    assert seen and set(seen) == {torch.float16}
    assert torch.isfinite(losses.d_loss) and torch.isfinite(losses.g_loss)
    assert {p.dtype for p in session.G.parameters()} == {torch.float32}
    assert all(torch.isfinite(p).all() for p in session.G.parameters())
    assert moved(before, session.G.parameters())
    scalers = session.strategy.oracle.scalers
    assert set(scalers) == {"g", "d"} and all(0 < s.scale <= 2.0**16 for s in scalers.values())


def test_fp16_gradients_are_unscaled_and_close_to_fp32_ones_with_a_gradient_penalty() -> None:
    """WGAN-GP under fp16: the penalty's inner gradient is taken of the scaled output and
    unscaled, and D's gradients come back unscaled, close to fp32's once the scale has
    backed off to a value without overflow (as in training: overflowing steps are skipped)."""
    grads, tries = {}, 0
    for name, levers in (("fp32", AppliedLevers()), ("fp16", fp16_levers())):
        session = build_session(image_run(loss={"name": "wgan-gp"}), CPU, levers)
        session.G.eval(), session.D.eval()  # no power-iteration updates between tries
        real, z = session.batches.next(), session.noise(64)
        oracle = session.strategy.oracle
        for tries in range(1, 30):  # noqa: B007  (read after the loop)
            torch.manual_seed(1)  # the same interpolation weights
            grads[name], _ = oracle.discriminator(session.G, session.D, real, z)
            if oracle.accept("d", grads[name]):
                break
    assert tries < 29 and session.strategy.oracle.scalers["d"].skipped == tries - 1
    fp32 = torch.cat([g.flatten() for g in grads["fp32"]])
    fp16 = torch.cat([g.flatten() for g in grads["fp16"]])
    assert fp16.norm() / fp32.norm() == pytest.approx(1.0, rel=0.05)  # unscaled (not x 2**16)
    assert 0.98 < torch.nn.functional.cosine_similarity(fp32, fp16, dim=0) < 1.0


def test_fp16_overflow_skips_that_players_step_and_keeps_srfb_shadow() -> None:
    session = build_session(image_run(strategy={"name": "srfb"}), CPU, fp16_levers())
    strategy = session.strategy
    strategy.oracle.scalers["g"].scale = 2.0**120  # G's scaled gradients overflow in fp16
    strategy.oracle.scalers["d"].scale = 16.0  # D's do not
    g_before = [p.detach().clone() for p in session.G.parameters()]
    shadow_before = [s.clone() for s in strategy.shadow_g]
    d_before = [p.detach().clone() for p in strategy.d_params]
    strategy.step()
    for a, b in zip(g_before, session.G.parameters(), strict=True):
        assert torch.equal(a, b)  # G skipped its step: theta_i kept ...
    for a, b in zip(shadow_before, strategy.shadow_g, strict=True):
        assert torch.equal(a, b)  # ... and its shadow too
    assert moved(d_before, strategy.d_params)  # D stepped
    g_scaler = strategy.oracle.scalers["g"]
    assert g_scaler.scale == 2.0**119 and g_scaler.skipped == 1
    assert strategy.oracle.scalers["d"].skipped == 0


def test_fp16_overflow_in_the_update_rolls_back_the_extrapolation() -> None:
    """Extragradient: G extrapolates, then its update overflows: G ends where it started."""
    session = build_session(image_run(strategy={"name": "extragradient"}), CPU, fp16_levers())
    strategy, oracle = session.strategy, session.strategy.oracle
    joint, calls = oracle.joint, []

    def overflow_second(*args):
        g, d, g_loss, d_loss = joint(*args)
        calls.append(1)
        if len(calls) == 2:  # the update's evaluation, at the extrapolated point
            g = [torch.full_like(t, float("inf")) for t in g]
        return g, d, g_loss, d_loss

    oracle.joint = overflow_second
    oracle.scalers["g"].scale = oracle.scalers["d"].scale = 16.0  # no overflow of its own
    start = [p.detach().clone() for p in strategy.g_params]
    extrapolated = []
    after = _after_phase(
        "extrapolation", lambda: extrapolated.extend(p.detach().clone() for p in strategy.g_params)
    )
    session.phases.attach(after)  # the strategy's labels, as the phase timer would get them
    strategy.step()
    assert moved(start, extrapolated)  # it extrapolated
    for a, b in zip(start, strategy.g_params, strict=True):
        assert torch.equal(a, b)  # and was rolled back
    assert oracle.scalers["g"].skipped == 1


def _after_phase(name: str, action):
    """A phase hook that calls ``action`` when phase ``name`` ends."""
    import contextlib

    @contextlib.contextmanager
    def phase(current: str):
        yield
        if current == name:
            action()

    return phase


def test_compile_trains_the_same_parameters_as_eager(tmp_path: Path) -> None:
    """torch.compile (inductor on the CPU) changes how, not what: 3 SRFB steps agree."""
    params = {}
    for mode in ("off", "default"):
        run = mixture_run(strategy={"name": "srfb"}, levers={"compile": mode})
        with applied_levers(run.levers, CPU, image_data=False) as levers:
            session = build_session(run, CPU, levers)
            for _ in range(3):
                session.strategy.step()
            assert levers.skipped == {}
        params[mode] = [p.detach().clone() for p in session.G.parameters()]
        state = session.G.state_dict()
    assert session.G._compiled_call_impl is not None  # it really was compiled
    assert not any(k.startswith("_orig_mod") for k in state)  # checkpoints unchanged
    for eager, compiled in zip(params["off"], params["default"], strict=True):
        torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-5)


def test_compile_keeps_d_eager_under_a_gradient_penalty_and_falls_back_on_failure(
    tmp_path: Path,
) -> None:
    run = mixture_run(
        loss={"name": "wgan-gp"}, levers={"compile": "default"}, budget={"iterations": 3}
    )
    summary = train_run(run, RunStore(tmp_path / "gp"), CPU)
    assert summary.status == "finished", summary.reason
    assert (
        "D runs eager: the gradient penalty needs a double backward"
        in summary.levers_skipped["compile"]
    )
    # No working C++ compiler: inductor cannot build G's code; the run goes on eager.
    import torch._inductor.config as inductor_config

    run = mixture_run(levers={"compile": "default"}, budget={"iterations": 3})
    with inductor_config.patch({"cpp.cxx": ("/nonexistent-cxx",), "fx_graph_cache": False}):
        summary = train_run(run, RunStore(tmp_path / "nocxx"), CPU)
    assert summary.status == "finished", summary.reason
    reason = summary.levers_skipped["compile"]
    assert "G fell back to eager" in reason and "C++ compiler" in reason


def _differs(run, base, sections=("name", "levers")) -> set[str]:
    """Top-level sections in which ``run`` differs from ``base``, beyond ``sections`` (and
    where the suite's order put it)."""
    a, b = run.model_dump(), base.model_dump()
    return {k for k in a if a[k] != b[k] and k not in (*sections, "schedule")}


def test_speedups_suite_changes_one_lever_at_a_time_on_the_thesis_sagan() -> None:
    from ganbench.config import load_suite
    from tests.conftest import ROOT

    suite = load_suite(ROOT / "suites" / "speedups.yaml")
    assert suite.baseline == "fp32"
    runs = {r.name: r for r in suite.runs if r.seed == 0}
    assert sorted({r.seed for r in suite.runs}) == [0, 1, 2]
    base = runs["fp32"]
    assert (base.model.name, base.model.width, base.model.latent_dim) == ("sagan", 1.0, 128)
    assert base.batch.size == 256 and base.dataset.name == "synthetic"
    assert base.loss.name == "hinge" and base.strategy.betas == (0.5, 0.9)
    assert base.levers == LeversConfig()
    changed = {name: run.levers.model_dump(exclude_defaults=True) for name, run in runs.items()}
    for name, run in runs.items():
        assert _differs(run, base) == set(), name  # only the levers differ
        assert name in ("fp32", "combined") or len(changed[name]) == 1, name
    assert changed["combined"] == {
        "precision": "amp-bf16",
        "channels_last": True,
        "compile": "default",
        "cudnn_benchmark": True,
        "tf32": True,
        "data_on_device": True,
    }
    every = {key for c in changed.values() for key in c}
    assert every == set(LeversConfig.model_fields)  # every lever is measured


def test_speedups_suite_runs_on_the_cpu_and_names_what_it_skipped(tmp_path: Path) -> None:
    """A shrunken run of the suite (no compile: that takes minutes on a CPU)."""
    from ganbench.config import load_suite
    from ganbench.run.plan import plan_suite
    from tests.conftest import ROOT, run_suite

    suite = load_suite(
        ROOT / "suites" / "speedups.yaml",
        [
            "model.width=0.125",
            "batch.size=16",
            "dataset.num_samples=64",
            "budget.iterations=2",
            "measure.warmup_iterations=0",
            f"output_dir={tmp_path / 'out'}",
        ],
        [0],
        ["fp32", "amp-fp16", "amp-bf16", "data-on-device", "dp", "ddp", "accumulate-4"],
    )
    summaries = {s.name: s for s in run_suite(suite, plan_suite(suite, fresh=True))}
    assert {s.status for s in summaries.values()} == {"finished"}
    assert summaries["fp32"].levers_skipped == {}
    assert summaries["amp-bf16"].levers_skipped == {}
    for name, lever in (
        ("amp-fp16", "precision"),
        ("data-on-device", "data_on_device"),
        ("dp", "parallel"),
        ("ddp", "parallel"),
    ):
        assert list(summaries[name].levers_skipped) == [lever], name


def test_stability_suite_changes_one_thing_at_a_time_on_fashion_mnist() -> None:
    from ganbench.config import load_suite
    from tests.conftest import ROOT

    suite = load_suite(ROOT / "suites" / "stability.yaml")
    runs = {r.name: r for r in suite.runs if r.seed == 0}
    base = runs["hinge"]
    assert suite.baseline == "hinge" and base.dataset.name == "fashion-mnist"
    assert [m.name for m in base.evaluation.metrics] == ["fd_classifier"]
    assert _differs(runs["bce"], base, ("name",)) == {"loss"}
    assert runs["bce"].loss.name == "bce"
    assert _differs(runs["wgan-gp"], base, ("name",)) == {"loss", "strategy"}  # its recipe
    assert runs["wgan-gp"].strategy.n_critic == 5
    assert _differs(runs["no-spectral-norm"], base, ("name",)) == {"model"}
    model = runs["no-spectral-norm"].model
    assert not model.g_spectral_norm and not model.d_spectral_norm
    assert _differs(runs["ttur"], base, ("name",)) == {"strategy"}
    ttur = runs["ttur"].strategy
    assert (ttur.lr_g, ttur.lr_d, ttur.betas) == (1e-4, 4e-4, base.strategy.betas)


def test_compile_past_the_recompile_limit_falls_back_with_the_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Dynamo would silently run eager past its recompile limit; here the evaluation's
    eval-mode call is one graph too many and the summary says G fell back."""
    import ganbench.levers.compile as levers_module

    monkeypatch.setattr(levers_module, "RECOMPILE_LIMIT", 1)
    limit = torch._dynamo.config.recompile_limit
    run = mixture_run(levers={"compile": "default"}, budget={"iterations": 3})
    summary = train_run(run, RunStore(tmp_path / "run"), CPU)
    assert summary.status == "finished", summary.reason
    reason = summary.levers_skipped["compile"]
    assert "G fell back to eager" in reason and "recompile" in reason.lower()
    assert torch._dynamo.config.recompile_limit == limit  # restored after the run
    # A second compiled run in this process starts from fresh caches (no fallback).
    monkeypatch.setattr(levers_module, "RECOMPILE_LIMIT", 64)
    again = train_run(run, RunStore(tmp_path / "again"), CPU)
    assert again.levers_skipped == {}
