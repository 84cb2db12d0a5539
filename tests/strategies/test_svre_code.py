"""SVRE's thesis-code variant against the public code's rules written out as the code
runs them: gradients accumulated in each network's ``.grad`` by every backward pass
(fakes not detached) and zeroed only after that network's own optimiser step."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from ganbench.losses import LOSSES
from ganbench.strategies import STRATEGIES, GradientOracle
from tests.strategies.test_strategies import (
    BETAS,
    EPS,
    LR,
    ListBatches,
    ListNoise,
    double_models,
    make,
    values,
)


class CodeSVRE:
    """trainer.py's svrg + extra path, as the rules say (hinge loss, batch multiplier 1)."""

    def __init__(self, G, D, data: torch.Tensor, batch: int) -> None:
        self.G, self.D, self.data, self.batch = G, D, data, batch
        self.G_ex, self.D_ex = copy.deepcopy(G), copy.deepcopy(D)
        self.G_s, self.D_s = copy.deepcopy(G), copy.deepcopy(D)
        adam = lambda net: torch.optim.Adam(net.parameters(), LR, BETAS, eps=EPS)  # noqa: E731
        self.opt_g, self.opt_d = adam(G), adam(D)
        self.opt_g_ex, self.opt_d_ex = adam(self.G_ex), adam(self.D_ex)

    def stats(self, noise) -> None:
        # The loader has drop_last (data_loader.py:78): full batches only.
        chunks = [x for x in self.data.split(self.batch) if x.shape[0] == self.batch]
        self.opt_d.zero_grad()
        for x in chunks:
            self.disc(self.G, self.D, x, noise(x.shape[0]))
        self.mu_d = [p.grad.div_(len(chunks)).clone() for p in self.D.parameters()]
        self.opt_g.zero_grad()
        for _ in chunks:
            self.gen(self.G, self.D, noise(self.batch))
        self.mu_g = [p.grad.div_(len(chunks)).clone() for p in self.G.parameters()]
        self.G_s.load_state_dict(self.G.state_dict())
        self.D_s.load_state_dict(self.D.state_dict())

    def disc(self, G, D, x, z, opt=None) -> None:
        (F.relu(1 - D(x)).mean() + F.relu(1 + D(G(z))).mean()).backward()
        if opt is None:
            return
        self.D_s.zero_grad()
        (F.relu(1 - self.D_s(x)).mean() + F.relu(1 + self.D_s(self.G_s(z))).mean()).backward()
        for p, s, m in zip(D.parameters(), self.D_s.parameters(), self.mu_d, strict=True):
            p.grad.sub_(s.grad).add_(m)
        opt.step()
        opt.zero_grad()

    def gen(self, G, D, z, opt=None) -> None:
        (-D(G(z)).mean()).backward()
        if opt is None:
            return
        self.G_s.zero_grad()
        (-self.D_s(self.G_s(z)).mean()).backward()
        for p, s, m in zip(G.parameters(), self.G_s.parameters(), self.mu_g, strict=True):
            p.grad.sub_(s.grad).add_(m)
        opt.step()
        opt.zero_grad()

    def pair(self, x1, x2, zs) -> None:
        self.G_ex.load_state_dict(self.G.state_dict())
        self.D_ex.load_state_dict(self.D.state_dict())
        self.disc(self.G, self.D_ex, x1, zs[0], self.opt_d_ex)
        self.gen(self.G_ex, self.D, zs[1], self.opt_g_ex)
        self.disc(self.G_ex, self.D, x2, zs[2], self.opt_d)
        self.gen(self.G, self.D_ex, zs[3], self.opt_g)


@pytest.mark.parametrize("refresh_every_step", [False, True])
def test_svre_thesis_code_matches_the_public_code_s_rules(refresh_every_step: bool) -> None:
    """Three steps in float64 to 1e-12; refreshing at every step exercises what a refresh
    leaves in the players' gradients (the code refreshes before its loop, trainer.py:125,
    then at every iteration the draw says, the first included, :135: four refreshes).
    The formula variant ends elsewhere."""
    G, D = double_models()
    G0, D0 = copy.deepcopy(G), copy.deepcopy(D)
    gen = torch.Generator().manual_seed(7)
    draw = lambda n: torch.randn(n, 2, generator=gen, dtype=torch.float64)  # noqa: E731
    data = draw(8)  # two chunks of 4
    batches = [draw(4) for _ in range(6)]
    refreshes = 4 if refresh_every_step else 1
    stats_noise = [draw(4) for _ in range(4 * refreshes)]
    step_noise = [[draw(4) for _ in range(4)] for _ in range(3)]
    order = stats_noise[:4]
    for i in range(3):
        order += stats_noise[4 * (i + 1) : 4 * (i + 2)] if refresh_every_step else []
        order += step_noise[i]
    cls = STRATEGIES.get("svre")
    config = cls.Config(
        lr_g=LR,
        lr_d=LR,
        betas=BETAS,
        eps=EPS,
        variant="thesis-code",
        snapshot_prob=1.0 if refresh_every_step else 1e-9,
    )
    oracle = GradientOracle(LOSSES.get("hinge")(LOSSES.get("hinge").Config()))
    strategy = cls(
        config, G, D, oracle, ListBatches(batches, data), ListNoise(order), torch.Generator()
    )
    for _ in range(3):
        strategy.step()
    assert strategy.counts.full_batch_passes == refreshes

    ref = CodeSVRE(G0, D0, data, 4)
    queue = list(stats_noise)
    ref.stats(lambda n: queue.pop(0))
    for i in range(3):
        if refresh_every_step:
            ref.stats(lambda n: queue.pop(0))
        ref.pair(batches[2 * i], batches[2 * i + 1], step_noise[i])
    for net, want in ((G, ref.G), (D, ref.D), (strategy.code.G_ex, ref.G_ex)):
        for p, e in zip(net.parameters(), values(want), strict=True):
            torch.testing.assert_close(p.detach(), e, rtol=0, atol=1e-12)

    G2, D2 = double_models()
    noise = [z for i in range(3) for z in (stats_noise[:2] if i == 0 else []) + step_noise[i][::2]]
    formula = make("svre", G2, D2, ListBatches(batches, data), ListNoise(noise), snapshot_prob=1e-9)
    for _ in range(3):
        formula.step()
    gap = max((a - b).abs().max().item() for a, b in zip(values(G2), values(G), strict=True))
    assert gap > 1e-4


def test_svre_thesis_code_refreshes_on_the_public_code_s_schedule() -> None:
    """1/len(loader) per iteration with drop_last (trainer.py:96): 10 examples in batches of
    4 are 2 full batches, p = 1/2; a refresh before the first iteration, then one per draw
    below p, the first iteration's included; each refresh passes over the 2 full batches
    only (2 noise batches for D's mean, 2 for G's)."""
    G, D = double_models()
    gen = torch.Generator().manual_seed(3)
    draw = lambda n: torch.randn(n, 2, generator=gen, dtype=torch.float64)  # noqa: E731
    data, steps = draw(10), 8
    noise_sizes: list[int] = []

    def noise(n: int) -> torch.Tensor:
        noise_sizes.append(n)
        return draw(n)

    cls = STRATEGIES.get("svre")
    config = cls.Config(lr_g=LR, lr_d=LR, betas=BETAS, eps=EPS, variant="thesis-code")
    oracle = GradientOracle(LOSSES.get("hinge")(LOSSES.get("hinge").Config()))
    batches = ListBatches([draw(4) for _ in range(2 * steps)], data)
    strategy = cls(config, G, D, oracle, batches, noise, torch.Generator().manual_seed(11))
    assert strategy.snapshot_prob == 0.5
    for _ in range(steps):
        strategy.step()
    replay = torch.Generator().manual_seed(11)
    draws = [torch.rand((), generator=replay).item() for _ in range(steps)]
    refreshes = 1 + sum(d < 0.5 for d in draws)
    assert 2 < refreshes < steps + 1  # some iterations refreshed, some did not
    assert strategy.counts.full_batch_passes == refreshes
    assert noise_sizes == [4] * (4 * refreshes + 4 * steps)  # no partial batch of 2


def test_a_thesis_code_svre_run_resumes_exactly_and_refuses_what_it_cannot_do(
    tmp_path, write_suite
) -> None:
    from ganbench.config import load_suite
    from ganbench.errors import UserError
    from tests.conftest import mixture_run, tiny_suite
    from tests.run.test_train import assert_same_parameters, crash_and_resume

    run = mixture_run(strategy={"name": "svre", "variant": "thesis-code", "snapshot_prob": 0.3})
    reference, store, summary = crash_and_resume(run, tmp_path)
    assert summary.status == "finished" and summary.grad_evals == 40
    assert_same_parameters(store, reference)

    strategy = {"name": "svre", "variant": "thesis-code"}
    path = write_suite(
        tiny_suite(strategy=strategy, levers={"grad_accumulation": 2}, loss={"name": "wgan-gp"})
    )
    with pytest.raises(UserError) as raised:
        load_suite(path)
    assert (
        "strategy.variant: svre's thesis-code variant does not support "
        "levers.grad_accumulation > 1, loss: wgan-gp (use variant: formula)"
    ) in str(raised.value)
