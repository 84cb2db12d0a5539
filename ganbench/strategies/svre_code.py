"""SVRE as the thesis' public code runs it (``strategy: {name: svre, variant: thesis-code}``;
commit 96f3bc3 of github.com/pdisbeschl/paul_d_growing_minibatches, ``trainer.py`` with
``svrg`` and ``extra`` on), beside eq. 3.5-3.8 of the thesis (the ``formula`` variant).

The code keeps gradients in each network's ``.grad``, adds every backward pass to them
and zeroes a network's only after its own optimiser step. Fakes are never detached, so
each player's loss also leaves a gradient in the other player's network, which its next
step then uses. Per iteration, with extra networks G~, D~ set to G, D (parameters and
buffers) and S for the snapshot networks:

1. D~ steps (its own Adam) with  held(D~) + grad_D~ L_D(D~; x1, G(z1)) - grad L_D(S; x1, z1)
   + mu_D; grad_G of that loss is added to held(G).
2. G~ steps with  held(G~) + grad_G~ L_G(D(G~(z2))) - grad L_G(S; z2) + mu_G; grad_D of that
   loss is added to held(D).
3. D steps with  held(D) + grad_D L_D(D; x2, G~(z3)) - grad L_D(S; x2, z3) + mu_D: D's update
   gradient at (G extrapolated, D current); grad_G~ is added to held(G~).
4. G steps with  held(G) + grad_G L_G(D~(G(z4))) - grad L_G(S; z4) + mu_G: G's at (G current,
   D extrapolated); grad_D~ is added to held(D~).

A snapshot refresh sets S to (G, D) and mu_D to the mean of D's batch gradients over the
data's full batches (the code's loader has drop_last: ganbench's ordered pass leaves out
its last N mod B examples where the code's shuffled loader leaves out a random N mod B;
fakes from G, fresh noise per batch), leaving mu_D in held(D) and adding to held(G); then
mu_G to the mean of G's gradients over as many noise batches, leaving mu_G in held(G) and
adding the D-gradients of those passes, unnormalised, to held(D) (trainer.py:283-305).
The code refreshes before its first iteration and then with probability 1/len(loader) at
every iteration, the first included (trainer.py:96, 124-125, 135). Losses use the run's
loss and precision; loss scaling, accumulation and data parallelism are not supported for
this variant.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from ganbench.strategies.base import Grads, StepLosses, Strategy, apply_step, trainable
from ganbench.strategies.oracle import add_scaled


class HeldGrads:
    """What the code leaves in each network's ``.grad``: added to by every backward pass
    through it, emptied by that network's own optimiser step."""

    def __init__(self) -> None:
        self.held: dict[str, Grads] = {}

    def add(self, key: str, grads: Grads, scale: float = 1.0) -> None:
        self.held[key] = add_scaled(self.held.get(key), grads, scale)

    def take(self, key: str, like: Grads) -> Grads:
        """Empty the network's gradients; what was there (zeros if nothing)."""
        return self.held.pop(key, None) or [torch.zeros_like(g) for g in like]

    def set(self, key: str, grads: Grads) -> None:
        self.held[key] = [g.clone() for g in grads]

    def state_dict(self) -> dict[str, Grads]:
        return self.held

    def load_state_dict(self, state: dict[str, Grads], device: torch.device) -> None:
        self.held = {k: [g.to(device) for g in v] for k, v in state.items()}


def _grads(loss: torch.Tensor, *nets: nn.Module) -> list[Grads]:
    """The loss's gradient with respect to each network's trainable parameters."""
    groups = [trainable(net) for net in nets]
    flat = torch.autograd.grad(loss, [p for g in groups for p in g], allow_unused=True)
    out, start = [], 0
    for group in groups:
        part = flat[start : start + len(group)]
        out.append(
            [torch.zeros_like(p) if g is None else g for g, p in zip(part, group, strict=True)]
        )
        start += len(group)
    return out


class ThesisCodeSVRE:
    """The code's networks, held gradients and update order, for an SVRE strategy."""

    def __init__(self, strategy: Strategy) -> None:
        self.s = strategy
        self.G_ex, self.D_ex = copy.deepcopy(strategy.G), copy.deepcopy(strategy.D)
        self.opt_g_ex = strategy.add_adam("g_extra", trainable(self.G_ex), strategy.cfg.lr_g)
        self.opt_d_ex = strategy.add_adam("d_extra", trainable(self.D_ex), strategy.cfg.lr_d)
        self.held = HeldGrads()
        self.mu_g: Grads | None = None
        self.mu_d: Grads | None = None

    def d_loss(self, D: nn.Module, G: nn.Module, real: torch.Tensor, z: torch.Tensor):
        with self.s.oracle.autocast():
            return self.s.oracle.loss.discriminator(D(real), D(G(z)))

    def g_loss(self, G: nn.Module, D: nn.Module, z: torch.Tensor):
        with self.s.oracle.autocast():
            return self.s.oracle.loss.generator(D(G(z)))

    def refresh(self, G_snap: nn.Module, D_snap: nn.Module) -> None:
        s, held = self.s, self.held
        chunk = s.batches.batch_size
        held.take("D", s.d_params)
        passes = 0
        for real, size in s.batches.full_pass(chunk):
            if size < chunk:  # the code's loader drops the last partial batch (drop_last)
                continue
            g_d, g_g = _grads(self.d_loss(s.D, s.G, real, s.noise(size)), s.D, s.G)
            held.add("D", g_d)
            held.add("G", g_g)
            passes += 1
        self.mu_d = [g / passes for g in held.take("D", s.d_params)]
        held.set("D", self.mu_d)
        held.take("G", s.g_params)
        for _ in range(passes):
            g_g, g_d = _grads(self.g_loss(s.G, s.D, s.noise(chunk)), s.G, s.D)
            held.add("G", g_g)
            held.add("D", g_d)
        self.mu_g = [g / passes for g in held.take("G", s.g_params)]
        held.set("G", self.mu_g)
        G_snap.load_state_dict(s.G.state_dict())
        D_snap.load_state_dict(s.D.state_dict())

    def step(self, G_snap: nn.Module, D_snap: nn.Module) -> StepLosses:
        s = self.s
        assert self.mu_g is not None and self.mu_d is not None
        with s.phases("extrapolation"):
            self.G_ex.load_state_dict(s.G.state_dict())
            self.D_ex.load_state_dict(s.D.state_dict())
        real, z = s.sample()
        with s.phases("extrapolation"):
            own, other = _grads(self.d_loss(self.D_ex, s.G, real, z), self.D_ex, s.G)
            snap = _grads(self.d_loss(D_snap, G_snap, real, z), D_snap)[0]
            self._update("D_ex", self.D_ex, own, snap, self.mu_d, self.opt_d_ex, ("G", other))
        with s.phases("data"):
            z = s.noise(s.batches.batch_size)
        with s.phases("extrapolation"):
            own, other = _grads(self.g_loss(self.G_ex, s.D, z), self.G_ex, s.D)
            snap = _grads(self.g_loss(G_snap, D_snap, z), G_snap)[0]
            self._update("G_ex", self.G_ex, own, snap, self.mu_g, self.opt_g_ex, ("D", other))
        real, z = s.sample()
        with s.phases("joint_step"):
            d_loss = self.d_loss(s.D, self.G_ex, real, z)
            own, other = _grads(d_loss, s.D, self.G_ex)
            snap = _grads(self.d_loss(D_snap, G_snap, real, z), D_snap)[0]
            self._update("D", s.D, own, snap, self.mu_d, s.opt_d, ("G_ex", other))
        with s.phases("data"):
            z = s.noise(s.batches.batch_size)
        with s.phases("joint_step"):
            g_loss = self.g_loss(s.G, self.D_ex, z)
            own, other = _grads(g_loss, s.G, self.D_ex)
            snap = _grads(self.g_loss(G_snap, D_snap, z), G_snap)[0]
            self._update("G", s.G, own, snap, self.mu_g, s.opt_g, ("D_ex", other))
        return StepLosses(d_loss.detach().float(), g_loss.detach().float())

    def _update(self, key, net, own, snap, mu, opt, leak: tuple[str, Grads]) -> None:
        """held(net) + own - snapshot + mu: the network's step; the other network's
        gradient of the same loss is held for it."""
        self.held.add(leak[0], leak[1])
        total = self.held.take(key, own)
        step = [t + o - s + m for t, o, s, m in zip(total, own, snap, mu, strict=True)]
        apply_step(opt, trainable(net), step)

    def networks(self) -> dict[str, nn.Module]:
        return {"G_ex": self.G_ex, "D_ex": self.D_ex}

    def state_dict(self) -> dict[str, Any]:
        return {
            "G_ex": self.G_ex.state_dict(),
            "D_ex": self.D_ex.state_dict(),
            "held": self.held.state_dict(),
            "mu_g": self.mu_g,
            "mu_d": self.mu_d,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        device = self.s.g_params[0].device
        self.G_ex.load_state_dict(state["G_ex"])
        self.D_ex.load_state_dict(state["D_ex"])
        self.held.load_state_dict(state["held"], device)
        self.mu_g = None if state["mu_g"] is None else [t.to(device) for t in state["mu_g"]]
        self.mu_d = None if state["mu_d"] is None else [t.to(device) for t in state["mu_d"]]
