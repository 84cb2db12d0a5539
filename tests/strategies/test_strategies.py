"""Strategies against hand-computed updates, their cost counters, and learning on a mixture."""

from __future__ import annotations

import copy
import math

import pytest
import torch
import torch.nn.functional as F

from ganbench.data.toy import mixture_centres
from ganbench.losses import LOSSES
from ganbench.models import MODELS
from ganbench.models.blocks import spectral_vectors
from ganbench.run.session import build_session
from ganbench.strategies import STRATEGIES, GradientOracle
from tests.conftest import mixture_run

LR, BETAS, EPS = 0.01, (0.5, 0.9), 1e-8


class ListBatches:
    """Hands out given real batches in order; full passes read ``data`` in order."""

    def __init__(self, batches: list[torch.Tensor], data: torch.Tensor | None = None) -> None:
        self.queue = list(batches)
        self.batch_size = batches[0].shape[0]
        self.data = data if data is not None else torch.cat(batches)
        self.num_examples = self.data.shape[0]

    def next(self) -> torch.Tensor:
        return self.queue.pop(0)

    def full_pass(self, chunk: int):
        for start in range(0, self.num_examples, chunk):
            part = self.data[start : start + chunk]
            yield part, part.shape[0]


class ListNoise:
    def __init__(self, zs: list[torch.Tensor]) -> None:
        self.queue = list(zs)

    def __call__(self, n: int) -> torch.Tensor:
        z = self.queue.pop(0)
        assert z.shape[0] == n
        return z


class RefAdam:
    """Adam written out (Kingma and Ba, Algorithm 1), stepping from a given start point."""

    def __init__(self) -> None:
        self.t, self.m, self.v = 0, None, None

    def step(self, start: list[torch.Tensor], grads: list[torch.Tensor]) -> list[torch.Tensor]:
        b1, b2 = BETAS
        self.t += 1
        if self.m is None:
            self.m = [torch.zeros_like(g) for g in grads]
            self.v = [torch.zeros_like(g) for g in grads]
        self.m = [b1 * m + (1 - b1) * g for m, g in zip(self.m, grads, strict=True)]
        self.v = [b2 * v + (1 - b2) * g * g for v, g in zip(self.v, grads, strict=True)]
        out = []
        for s, m, v in zip(start, self.m, self.v, strict=True):
            m_hat, v_hat = m / (1 - b1**self.t), v / (1 - b2**self.t)
            out.append(s - LR * m_hat / (v_hat.sqrt() + EPS))
        return out


def tiny_models() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    family = MODELS.get("mlp")
    return family.build(family.Config(latent_dim=2, hidden=3, depth=1), (2,))


def values(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def load(module: torch.nn.Module, vals: list[torch.Tensor]) -> None:
    with torch.no_grad():
        for p, v in zip(module.parameters(), vals, strict=True):
            p.copy_(v)


def hinge_grads(G, D, x, z):
    """Thesis eq. 3.3/3.4 differentiated directly: (grad_theta L_G, grad_phi L_D)."""
    fake = G(z)
    d_loss = F.relu(1 - D(x)).mean() + F.relu(1 + D(fake.detach())).mean()
    g_d = torch.autograd.grad(d_loss, list(D.parameters()))
    g_loss = -D(fake).mean()
    g_g = torch.autograd.grad(g_loss, list(G.parameters()))
    return list(g_g), list(g_d)


def make(name: str, G, D, batches, noise, **cfg):
    cls = STRATEGIES.get(name)
    config = cls.Config(lr_g=LR, lr_d=LR, betas=BETAS, eps=EPS, **cfg)
    oracle = GradientOracle(LOSSES.get("hinge")(LOSSES.get("hinge").Config()))
    return cls(config, G, D, oracle, batches, noise, torch.Generator().manual_seed(0))


def assert_close(module: torch.nn.Module, expected: list[torch.Tensor]) -> None:
    for p, e in zip(module.parameters(), expected, strict=True):
        torch.testing.assert_close(p.detach(), e, rtol=1e-5, atol=1e-6)


def random_inputs(n: int, count: int) -> list[torch.Tensor]:
    gen = torch.Generator().manual_seed(123)
    return [torch.randn(n, 2, generator=gen) for _ in range(count)]


def test_alternating_matches_hand_computed_updates() -> None:
    G, D = tiny_models()
    Gr, Dr = copy.deepcopy(G), copy.deepcopy(D)
    x1, x2, z1, z2, z3 = random_inputs(4, 5)
    strategy = make("alternating", G, D, ListBatches([x1, x2]), ListNoise([z1, z2, z3]), n_critic=2)
    strategy.step()

    adam_g, adam_d = RefAdam(), RefAdam()
    for x, z in ((x1, z1), (x2, z2)):  # two critic steps, G held fixed
        _, gd = hinge_grads(Gr, Dr, x, z)
        load(Dr, adam_d.step(values(Dr), gd))
    gg, _ = hinge_grads(Gr, Dr, x1, z3)  # G steps against the updated D
    load(Gr, adam_g.step(values(Gr), gg))
    assert_close(D, values(Dr))
    assert_close(G, values(Gr))


@pytest.mark.parametrize("delta", [2 / (1 + math.sqrt(5)), 0.8])
def test_srfb_matches_eq_3_1_and_3_2(delta: float) -> None:
    G, D = tiny_models()
    Gr, Dr = copy.deepcopy(G), copy.deepcopy(D)
    x1, x2, x3, z1, z2, z3 = random_inputs(4, 6)
    strategy = make("srfb", G, D, ListBatches([x1, x2, x3]), ListNoise([z1, z2, z3]), delta=delta)
    for _ in range(3):
        strategy.step()

    adam_g, adam_d = RefAdam(), RefAdam()
    shadow_g, shadow_d = values(Gr), values(Dr)  # theta_bar_{-1} = theta_0
    for x, z in ((x1, z1), (x2, z2), (x3, z3)):
        gg, gd = hinge_grads(Gr, Dr, x, z)  # pseudo-gradient at theta_i
        shadow_g = [(1 - delta) * t + delta * s for t, s in zip(values(Gr), shadow_g, strict=True)]
        shadow_d = [(1 - delta) * t + delta * s for t, s in zip(values(Dr), shadow_d, strict=True)]
        load(Gr, adam_g.step(shadow_g, gg))  # Adam step taken from the shadow point
        load(Dr, adam_d.step(shadow_d, gd))
    assert_close(G, values(Gr))
    assert_close(D, values(Dr))


def test_srfb_does_not_use_the_public_codes_weighting() -> None:
    """The thesis' code gives the current iterate weight delta; eq. 3.1 gives it 1 - delta."""
    delta = 0.8
    G, D = tiny_models()
    Gr, Dr = copy.deepcopy(G), copy.deepcopy(D)
    x1, x2, z1, z2 = random_inputs(4, 4)
    strategy = make("srfb", G, D, ListBatches([x1, x2]), ListNoise([z1, z2]), delta=delta)
    strategy.step()
    strategy.step()
    adam_g, adam_d = RefAdam(), RefAdam()
    shadow_g, shadow_d = values(Gr), values(Dr)
    for x, z in ((x1, z1), (x2, z2)):
        gg, gd = hinge_grads(Gr, Dr, x, z)
        shadow_g = [delta * t + (1 - delta) * s for t, s in zip(values(Gr), shadow_g, strict=True)]
        shadow_d = [delta * t + (1 - delta) * s for t, s in zip(values(Dr), shadow_d, strict=True)]
        load(Gr, adam_g.step(shadow_g, gg))
        load(Dr, adam_d.step(shadow_d, gd))
    pairs = zip(G.parameters(), values(Gr), strict=True)
    gap = max((p.detach() - e).abs().max().item() for p, e in pairs)
    assert gap > 1e-4


def double_models() -> tuple[torch.nn.Module, torch.nn.Module]:
    G, D = tiny_models()
    return G.double(), D.double()


def test_srfb_thesis_code_matches_the_public_code_s_rules() -> None:
    """Three steps of ``variant: thesis-code`` (delta 0.7: below the formula's bound, as
    the code allows) in float64 against the rules written out: D's gradient at D with
    fakes from G's shadow; D_bar <- delta D + (1 - delta) D_bar; D <- D_bar - Adam step;
    G's gradient through the new D_bar with its own noise; the same for G. The shadows
    start at an independent initialisation; formula SRFB ends elsewhere."""
    delta = 0.7
    G, D = double_models()
    G0, D0 = copy.deepcopy(G), copy.deepcopy(D)
    gen = torch.Generator().manual_seed(5)
    inputs = [torch.randn(4, 2, generator=gen, dtype=torch.float64) for _ in range(9)]
    xs, zds, zgs = inputs[0:3], inputs[3:6], inputs[6:9]
    fresh = double_models_from_seed  # independent of G and D: another seed
    noise = ListNoise([z for pair in zip(zds, zgs, strict=True) for z in pair])
    cls = STRATEGIES.get("srfb")
    config = cls.Config(lr_g=LR, lr_d=LR, betas=BETAS, eps=EPS, delta=delta, variant="thesis-code")
    oracle = GradientOracle(LOSSES.get("hinge")(LOSSES.get("hinge").Config()))
    strategy = cls(
        config, G, D, oracle, ListBatches(xs), noise, torch.Generator(), fresh_networks=fresh
    )
    Gb, Db = copy.deepcopy(strategy.G_bar), copy.deepcopy(strategy.D_bar)
    assert max((a - b).abs().max() for a, b in zip(values(Gb), values(G0), strict=True)) > 0.01
    for _ in range(3):
        strategy.step()

    Gr, Dr, adam_g, adam_d = G0, D0, RefAdam(), RefAdam()
    for x, zd, zg in zip(xs, zds, zgs, strict=True):
        d_loss = F.relu(1 - Dr(x)).mean() + F.relu(1 + Dr(Gb(zd))).mean()
        gd = torch.autograd.grad(d_loss, list(Dr.parameters()))
        load(Db, [delta * p + (1 - delta) * s for p, s in zip(values(Dr), values(Db), strict=True)])
        load(Dr, adam_d.step(values(Db), list(gd)))
        gg = torch.autograd.grad(-Db(Gr(zg)).mean(), list(Gr.parameters()))
        load(Gb, [delta * p + (1 - delta) * s for p, s in zip(values(Gr), values(Gb), strict=True)])
        load(Gr, adam_g.step(values(Gb), list(gg)))
    for net, ref in ((G, Gr), (D, Dr), (strategy.G_bar, Gb), (strategy.D_bar, Db)):
        for p, e in zip(net.parameters(), values(ref), strict=True):
            torch.testing.assert_close(p.detach(), e, rtol=0, atol=1e-12)

    G2, D2 = double_models()
    formula = make("srfb", G2, D2, ListBatches(xs), ListNoise(zds), delta=0.7)
    for _ in range(3):
        formula.step()
    gap = max((a - b).abs().max().item() for a, b in zip(values(G2), values(G), strict=True))
    assert gap > 1e-4


def double_models_from_seed() -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(99)
    family = MODELS.get("mlp")
    G, D = family.build(family.Config(latent_dim=2, hidden=3, depth=1), (2,))
    return G.double(), D.double()


def test_extragradient_extrapolates_then_updates_from_the_start_point() -> None:
    G, D = tiny_models()
    Gr, Dr = copy.deepcopy(G), copy.deepcopy(D)
    x1, x2, z1, z2 = random_inputs(4, 4)
    strategy = make("extragradient", G, D, ListBatches([x1, x2]), ListNoise([z1, z2]))
    strategy.step()

    start_g, start_d = values(Gr), values(Dr)
    extra_g, extra_d, adam_g, adam_d = RefAdam(), RefAdam(), RefAdam(), RefAdam()
    gg, gd = hinge_grads(Gr, Dr, x1, z1)
    load(Gr, extra_g.step(start_g, gg))  # theta tilde
    load(Dr, extra_d.step(start_d, gd))
    gg, gd = hinge_grads(Gr, Dr, x2, z2)  # at theta tilde, fresh batch
    assert_close(G, adam_g.step(start_g, gg))
    assert_close(D, adam_d.step(start_d, gd))


def test_svre_first_step_matches_algorithm_3() -> None:
    """Snapshot at theta_0 with the full-batch mean mu; extrapolation then uses exactly mu
    (both gradient terms cancel), the update mu + grad(theta~, B) - grad(theta_S, B)."""
    G, D = tiny_models()
    Gr, Dr = copy.deepcopy(G), copy.deepcopy(D)
    data = random_inputs(8, 1)[0]
    x1, x2, za, zb, z1, z2 = random_inputs(4, 6)
    strategy = make(
        "svre", G, D, ListBatches([x1, x2], data), ListNoise([za, zb, z1, z2]), snapshot_prob=1e-9
    )
    strategy.step()

    start_g, start_d = values(Gr), values(Dr)
    parts = [hinge_grads(Gr, Dr, data[:4], za), hinge_grads(Gr, Dr, data[4:], zb)]
    mu_g = [(a + b) / 2 for a, b in zip(parts[0][0], parts[1][0], strict=True)]  # eq. 3.6 over m
    mu_d = [(a + b) / 2 for a, b in zip(parts[0][1], parts[1][1], strict=True)]  # eq. 3.5 over m
    extra_g, extra_d, adam_g, adam_d = RefAdam(), RefAdam(), RefAdam(), RefAdam()
    load(Gr, extra_g.step(start_g, mu_g))
    load(Dr, extra_d.step(start_d, mu_d))
    Gs, Ds = copy.deepcopy(G), copy.deepcopy(D)
    load(Gs, start_g)
    load(Ds, start_d)
    at_g, at_d = hinge_grads(Gr, Dr, x2, z2)
    snap_g, snap_d = hinge_grads(Gs, Ds, x2, z2)  # same batch and noise at the snapshot
    d_g = [m + a - s for m, a, s in zip(mu_g, at_g, snap_g, strict=True)]
    d_d = [m + a - s for m, a, s in zip(mu_d, at_d, snap_d, strict=True)]
    assert_close(G, adam_g.step(start_g, d_g))
    assert_close(D, adam_d.step(start_d, d_d))


def test_svre_variance_reduced_estimate_at_a_moved_iterate() -> None:
    G, D = tiny_models()
    data = random_inputs(8, 1)[0]
    x, za, zb, z = random_inputs(4, 4)
    strategy = make("svre", G, D, ListBatches([x], data), ListNoise([za, zb]))
    strategy.refresh_snapshot()
    snapshot_g, snapshot_d = values(G), values(D)
    with torch.no_grad():  # move the iterate away from the snapshot
        for p in list(G.parameters()) + list(D.parameters()):
            p.add_(0.1 * torch.randn_like(p))
    d_g, d_d, _, _ = strategy.estimate(x, z)

    Gs, Ds = copy.deepcopy(G), copy.deepcopy(D)
    load(Gs, snapshot_g)
    load(Ds, snapshot_d)
    at_g, at_d = hinge_grads(G, D, x, z)
    snap_g, snap_d = hinge_grads(Gs, Ds, x, z)
    for got, mu, a, s in zip(d_g, strategy.mu_g, at_g, snap_g, strict=True):
        torch.testing.assert_close(got, mu + a - s)
    for got, mu, a, s in zip(d_d, strategy.mu_d, at_d, snap_d, strict=True):
        torch.testing.assert_close(got, mu + a - s)


COUNTS_PER_ITERATION = {
    # strategy, config: (grad_evals, d_grad_evals, g_grad_evals, snapshot_grad_evals)
    "alternating": ({}, (1, 1, 1, 0)),
    "alternating-ncritic3": ({"n_critic": 3}, (1, 3, 1, 0)),
    "srfb": ({}, (1, 1, 1, 0)),
    "extragradient": ({}, (2, 2, 2, 0)),
    "svre": ({"snapshot_prob": 1e-9}, (2, 2, 2, 2)),
}


@pytest.mark.parametrize("key", sorted(COUNTS_PER_ITERATION))
def test_gradient_evaluation_counts_per_iteration(key: str) -> None:
    extra, (grad, d, g, snap) = COUNTS_PER_ITERATION[key]
    name = key.split("-")[0]
    session = build_session(mixture_run(strategy={"name": name, **extra}), torch.device("cpu"))
    for _ in range(5):
        session.strategy.step()
    counts = session.strategy.counts
    assert (counts.grad_evals, counts.d_grad_evals, counts.g_grad_evals) == (5 * grad, 5 * d, 5 * g)
    assert counts.snapshot_grad_evals == 5 * snap
    assert counts.full_batch_passes == (1 if name == "svre" else 0)


def test_every_strategy_is_counted() -> None:
    assert {k.split("-")[0] for k in COUNTS_PER_ITERATION} == set(STRATEGIES.names())


@pytest.mark.parametrize("prob, expected", [(1.0, 7), (1e-9, 1)])
def test_svre_refreshes_with_the_given_probability(prob: float, expected: int) -> None:
    run = mixture_run(strategy={"name": "svre", "snapshot_prob": prob})
    session = build_session(run, torch.device("cpu"))
    for _ in range(7):
        session.strategy.step()
    assert session.strategy.counts.full_batch_passes == expected


def test_svre_default_probability_is_batch_over_dataset_times_multiplier() -> None:
    run = mixture_run(strategy={"name": "svre", "snapshot_prob_multiplier": 2.0})
    session = build_session(run, torch.device("cpu"))
    assert session.strategy.snapshot_prob == pytest.approx(2 * 32 / 512)


@pytest.mark.parametrize("name", STRATEGIES.names())
def test_each_strategy_learns_the_mixture(name: str) -> None:
    """300 steps on a ring of 8 Gaussians: the generator's mean distance to the nearest
    mode, averaged over the last 100 steps, falls below 75% of where it started
    (measured over 6 seeds: at most 62% for every strategy)."""
    run = mixture_run(
        dataset={"name": "gaussian-mixture", "modes": 8, "num_samples": 1024, "std": 0.1},
        model={"name": "mlp", "latent_dim": 8, "hidden": 64, "depth": 2},
        strategy={"name": name, "lr_g": 2e-3, "lr_d": 2e-3},
        batch={"size": 64},
    )
    session = build_session(run, torch.device("cpu"))
    centres = mixture_centres(run.dataset)
    z = torch.randn(256, 8, generator=torch.Generator().manual_seed(99))

    def mode_distance() -> float:
        with torch.no_grad():
            return torch.cdist(session.G(z), centres).min(dim=1).values.mean().item()

    start, late = mode_distance(), []
    for i in range(300):
        losses = session.strategy.step()
        assert math.isfinite(losses.d_loss.item()) and math.isfinite(losses.g_loss.item())
        if i >= 200 and i % 10 == 9:
            late.append(mode_distance())
    assert sum(late) / len(late) < 0.75 * start


@pytest.mark.parametrize("loss", ["hinge", "bce"])
def test_accumulated_micro_batches_give_the_full_batch_gradient(loss: str) -> None:
    """k=4 micro-batches of 16 equal one batch of 64 on a model without batch norm."""
    G, D = tiny_models()
    x, z = torch.randn(64, 2), torch.randn(64, 2)
    loss_fn = LOSSES.get(loss)(LOSSES.get(loss).Config())
    whole = GradientOracle(loss_fn).joint(G, D, x, z)
    parts = GradientOracle(loss_fn, micro_batch=16).joint(G, D, x, z)
    for a, b in zip(whole[0] + whole[1], parts[0] + parts[1], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(whole[3], parts[3])
    d_whole, _ = GradientOracle(loss_fn).discriminator(G, D, x, z)
    d_parts, _ = GradientOracle(loss_fn, micro_batch=16).discriminator(G, D, x, z)
    for a, b in zip(d_whole, d_parts, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-7)


def test_accumulate_growth_mode_keeps_the_base_micro_batch() -> None:
    run = mixture_run(
        batch={
            "size": 16,
            "growth_mode": "accumulate",
            "milestones": [{"iteration": 2, "size": 64}],
        }
    )
    session = build_session(run, torch.device("cpu"))
    assert session.strategy.oracle.micro_batch == 16
    session.set_batch_size(64)
    real = session.batches.next()
    assert real.shape[0] == 64  # the effective batch, processed 16 at a time


@pytest.mark.parametrize("loss", LOSSES.names())
@pytest.mark.parametrize("name", STRATEGIES.names())
def test_every_strategy_runs_every_loss_on_a_small_sagan(name: str, loss: str) -> None:
    """Spectral norm, batch norm, self-attention and WGAN-GP's double backward together."""
    run = mixture_run(
        dataset={"name": "synthetic", "num_samples": 64, "image_size": 16, "channels": 1},
        model={"name": "sagan", "width": 0.125, "latent_dim": 8},
        loss={"name": loss},
        strategy={"name": name},
        batch={
            "size": 8,
            "growth_mode": "accumulate",
            "milestones": [{"iteration": 2, "size": 16}],
        },
    )
    session = build_session(run, torch.device("cpu"))
    before = [p.detach().clone() for p in session.G.parameters()]
    for iteration in range(3):
        session.set_batch_size(session.schedule.size_at(iteration, session.sampler.epoch))
        losses = session.strategy.step()
        assert math.isfinite(losses.d_loss.item()) and math.isfinite(losses.g_loss.item())
    moved = [
        not torch.equal(a, b.detach()) for a, b in zip(before, session.G.parameters(), strict=True)
    ]
    assert any(moved)
    assert session.sampler.images_seen >= 8 + 8 + 16


def test_delta_s_bound_applies_to_the_formula_variant_only() -> None:
    cls = STRATEGIES.get("srfb").Config
    assert cls(delta=0.3, variant="thesis-code").delta == 0.3
    with pytest.raises(ValueError, match="greater than or equal to 0.618"):
        cls(delta=0.3)
    with pytest.raises(ValueError, match="variant"):
        cls(variant="paper")


def test_a_thesis_code_srfb_run_trains_and_resumes_exactly(tmp_path) -> None:
    """Through the session (shadows from the model's own initialisation, checkpointed
    with their buffers: spectral norm in D, batch norm in G)."""
    from tests.run.test_train import assert_same_parameters, crash_and_resume

    model = {
        "name": "mlp",
        "latent_dim": 4,
        "hidden": 16,
        "depth": 1,
        "g_norm": "batch",
        "d_spectral_norm": True,
    }
    run = mixture_run(model=model, strategy={"name": "srfb", "variant": "thesis-code"})
    reference, store, _ = crash_and_resume(run, tmp_path)
    assert_same_parameters(store, reference)
    extra = store.load_checkpoint()["strategy"]["extra"]
    assert set(extra) == {"G_bar", "D_bar"}


def sn_models(seed: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    """A small G and D with spectral norm in both, in float64."""
    torch.manual_seed(seed)
    family = MODELS.get("mlp")
    cfg = family.Config(latent_dim=2, hidden=3, depth=2, g_spectral_norm=True, d_spectral_norm=True)
    G, D = family.build(cfg, (2,))
    return G.double(), D.double()


def vectors(module: torch.nn.Module) -> list[torch.Tensor]:
    return [v.detach().clone() for _, v in spectral_vectors(module)]


def code_srfb_reference(nets, inputs, delta: float, *, relax_vectors=True, real_first=True):
    """The public code's SRFB (trainer.py:343-406, 464-479) written out: D's loss on the
    real batch then on fakes from G's shadow; D_bar's parameters, and its spectral-norm
    u and v (parameters in the code's spectral.py), relaxed towards D; D <- D_bar (state
    dict); Adam's step from there; then the same for G through the new D_bar."""
    Gr, Dr, Gb, Db = nets
    adam_g, adam_d = RefAdam(), RefAdam()

    def mix(current: list[torch.Tensor], shadow: list[torch.Tensor]) -> list[torch.Tensor]:
        return [delta * p + (1 - delta) * s for p, s in zip(current, shadow, strict=True)]

    def relax(shadow, net) -> None:
        load(shadow, mix(values(net), values(shadow)))
        if relax_vectors:
            with torch.no_grad():
                own = [v for _, v in spectral_vectors(shadow)]
                for s, v in zip(own, mix(vectors(net), vectors(shadow)), strict=True):
                    s.copy_(v)
        net.load_state_dict(shadow.state_dict())

    for x, zd, zg in inputs:
        if real_first:
            d_real = Dr(x)
            d_fake = Dr(Gb(zd))
        else:
            d_fake = Dr(Gb(zd))
            d_real = Dr(x)
        d_loss = F.relu(1 - d_real).mean() + F.relu(1 + d_fake).mean()
        gd = torch.autograd.grad(d_loss, list(Dr.parameters()))
        relax(Db, Dr)
        load(Dr, adam_d.step(values(Db), list(gd)))
        gg = torch.autograd.grad(-Db(Gr(zg)).mean(), list(Gr.parameters()))
        relax(Gb, Gr)
        load(Gr, adam_g.step(values(Gb), list(gg)))
    return Gr, Dr, Gb, Db


def test_srfb_thesis_code_with_spectral_norm_matches_the_public_code_s_rules() -> None:
    """Spectral norm in G and D, float64, three steps to 1e-12 against the rules written
    out, the u and v vectors of all four networks included; the same rules with D's
    passes the other way round, or u and v copied instead of relaxed, end elsewhere."""
    delta = 0.7
    G, D = sn_models(0)
    start = copy.deepcopy((G, D))
    gen = torch.Generator().manual_seed(5)
    draw = lambda: torch.randn(4, 2, generator=gen, dtype=torch.float64)  # noqa: E731
    inputs = [(draw(), draw(), draw()) for _ in range(3)]
    noise = ListNoise([z for _, zd, zg in inputs for z in (zd, zg)])
    cls = STRATEGIES.get("srfb")
    config = cls.Config(lr_g=LR, lr_d=LR, betas=BETAS, eps=EPS, delta=delta, variant="thesis-code")
    oracle = GradientOracle(LOSSES.get("hinge")(LOSSES.get("hinge").Config()))
    batches = ListBatches([x for x, _, _ in inputs])
    strategy = cls(
        config, G, D, oracle, batches, noise, torch.Generator(), fresh_networks=lambda: sn_models(9)
    )
    shadows = copy.deepcopy((strategy.G_bar, strategy.D_bar))
    assert vectors(strategy.D_bar) and vectors(strategy.G_bar)
    for _ in range(3):
        strategy.step()

    def reference(**how):
        nets = (*copy.deepcopy(start), *copy.deepcopy(shadows))
        return code_srfb_reference(nets, inputs, delta, **how)

    ours = (G, D, strategy.G_bar, strategy.D_bar)
    for net, ref in zip(ours, reference(), strict=True):
        for got, want in zip(values(net) + vectors(net), values(ref) + vectors(ref), strict=True):
            torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    for how in ({"real_first": False}, {"relax_vectors": False}):
        _, Dr, _, _ = reference(**how)
        gap = max((a - b).abs().max().item() for a, b in zip(values(D), values(Dr), strict=True))
        assert gap > 1e-4, how


D_ORDER_CASES = {
    "alternating": {"name": "alternating", "n_critic": 2},
    "srfb": {"name": "srfb"},
    "srfb-thesis-code": {"name": "srfb", "variant": "thesis-code", "delta": 0.7},
    "extragradient": {"name": "extragradient"},
    "svre": {"name": "svre", "snapshot_prob": 0.5},
    "svre-thesis-code": {"name": "svre", "variant": "thesis-code", "snapshot_prob": 0.5},
}


@pytest.mark.parametrize("case", sorted(D_ORDER_CASES))
def test_every_strategy_shows_d_the_real_batch_before_the_fakes(case: str) -> None:
    """Each of D's losses (snapshot refreshes included) is formed from D on a real batch,
    then D on fakes, in that order: with spectral norm the order is part of the result."""
    micro = {} if case == "svre-thesis-code" else {"grad_accumulation": 2}  # it refuses those
    run = mixture_run(strategy=D_ORDER_CASES[case], levers=micro)
    strategy = build_session(run, torch.device("cpu")).strategy
    reals: list[torch.Tensor] = []  # kept alive: no fake reuses a real batch's memory
    calls: list[str] = []
    batches, loss = strategy.batches, strategy.oracle.loss
    next_batch, full_pass, d_loss = batches.next, batches.full_pass, loss.discriminator

    def record(x: torch.Tensor) -> torch.Tensor:
        reals.append(x)
        return x

    batches.next = lambda: record(next_batch())
    batches.full_pass = lambda chunk: ((record(x), n) for x, n in full_pass(chunk))
    loss.discriminator = lambda real, fake: calls.append("L") or d_loss(real, fake)
    storages = lambda: {x.untyped_storage().data_ptr() for x in reals}  # noqa: E731
    for name, net in strategy.networks().items():
        if name.startswith("D"):
            net.register_forward_pre_hook(
                lambda m, args: calls.append(
                    "R" if args[0].untyped_storage().data_ptr() in storages() else "F"
                )
            )
    for _ in range(3):
        strategy.step()
    losses = [i for i, c in enumerate(calls) if c == "L"]
    assert len(losses) >= 3, calls
    assert all(calls[i - 2 : i] == ["R", "F"] for i in losses), "".join(calls)


def test_the_thesis_suite_s_thesis_code_arms_validate_and_train(tmp_path) -> None:
    """suites/thesis.yaml's two thesis-code arms, shortened (a 1/8-width SAGAN with spectral
    norm in G and D, synthetic images, 3 iterations), train to the end."""
    from pathlib import Path

    from ganbench.config import load_suite
    from ganbench.results import RunStore
    from ganbench.run.train import train_run

    overrides = [
        "dataset={name: synthetic, image_size: 32, channels: 3, num_samples: 32}",
        "model.width=0.125",
        "batch.size=8",
        "budget.iterations=3",
        "evaluation.metrics=[]",
        "evaluation.targets={}",
        "evaluation.every_iterations=null",
        "measure={flops: false, speed_probe_every_s: null, warmup_iterations: 1}",
        "device=cpu",
    ]
    suite = Path(__file__).resolve().parents[2] / "suites" / "thesis.yaml"
    arms = ["srfb-thesis-code", "svre-thesis-code"]
    runs = load_suite(suite, overrides, [0], arms).runs
    assert [r.name for r in runs] == arms
    for run in runs:
        summary = train_run(run, RunStore(tmp_path / run.id), torch.device("cpu"))
        assert summary.status == "finished" and summary.iterations == 3, summary.reason
