"""The adapted CycleGAN family of Lin et al.'s baselines, between grids of different sizes:
:class:`CycleGAN` ((a) pix2pix-like, (b) CycleGAN, (c) + pseudo-identity, (d) + identity,
(e) + pixel shuffle, (g) 6-block ResNet on regridded images) and :class:`AugmentedCycleGAN`
((h), stochastic many-to-many mappings). The shared terms are in
:mod:`~astroi2i.systems.twoway_base`."""

from __future__ import annotations

import torch
from torch import nn

from astroi2i.systems.registry import SYSTEMS
from astroi2i.systems.twoway_base import TwoWaySystem, two_way_batch

__all__ = ["CycleGAN", "AugmentedCycleGAN"]

_NETWORKS = ["g_ab", "g_ba", "d_a", "d_b", "gan_loss"]


@SYSTEMS.register
class CycleGAN(TwoWaySystem):
    """The adapted CycleGAN family: (a) pix2pix-like (identity only, ``lambda_cycle: 0``, paired
    streams only), (b) CycleGAN (cycle), (c) + pseudo-identity, (d) + identity, (e) + pixel
    shuffle (a generator option), (g) the 6-block ResNet CycleGAN on regridded images (a
    generator choice).

    Parameters
    ----------
    g_ab, g_ba : nn.Module
        Generators called as ``g(x, size)``.
    d_a, d_b : nn.Module
        Unconditional discriminators of each domain (logits).
    gan_loss : GANLoss
    lambda_cycle, lambda_identity, lambda_pseudo_identity : float
        Weights of the MSE terms (Lin et al.: 1000 each where used; 0 switches a term off).
    pool_size : int
        Image pool per domain (CycleGAN: 50; 0: none).
    clip_grad : float or None
        Global gradient-norm clip of every step.
    lr, beta1, beta2, fused_adam, max_nonfinite_steps
        As in :class:`~astroi2i.systems.pix2pix.Pix2Pix`.
    """

    components = {"g_ab": "arch", "g_ba": "arch", "d_a": "arch", "d_b": "arch",
                  "gan_loss": "loss"}  # fmt: skip

    def __init__(
        self,
        g_ab: nn.Module,
        g_ba: nn.Module,
        d_a: nn.Module,
        d_b: nn.Module,
        gan_loss: nn.Module,
        *,
        lambda_cycle: float = 1000.0,
        lambda_identity: float = 0.0,
        lambda_pseudo_identity: float = 0.0,
        pool_size: int = 50,
        clip_grad: float | None = 1.0,
        lr: float = 2e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        fused_adam: bool = True,
        max_nonfinite_steps: int = 10,
    ) -> None:
        super().__init__(gan_loss, pool_size=pool_size, max_nonfinite_steps=max_nonfinite_steps)
        self.g_ab, self.g_ba, self.d_a, self.d_b = g_ab, g_ba, d_a, d_b
        self.save_hyperparameters(ignore=_NETWORKS)

    def training_step(self, batch, batch_idx: int) -> None:
        A, mA, B, mB, n_p = two_way_batch(batch)
        size_a, size_b = tuple(A.shape[-2:]), tuple(B.shape[-2:])
        with self.guard.protect_buffers(self):
            fake_b, fake_a = self.g_ab(A, size_b), self.g_ba(B, size_a)
            terms = {"gan": self.adversarial(fake_a, fake_b)}
            cycle = bool(self.hparams.lambda_cycle)
            cycle_a = self.g_ba(fake_b, size_a) if cycle else None
            cycle_b = self.g_ab(fake_a, size_b) if cycle else None
            terms.update(self.pixel_terms(A, mA, B, mB, n_p, fake_a, fake_b, cycle_a, cycle_b))
            self.generator_step(self.optimizers()[0], terms)
            loss_d = self.discriminator_step(A, B, fake_a.detach(), fake_b.detach())
        self.end_batch(terms, loss_d, A.shape[0])


@SYSTEMS.register
class AugmentedCycleGAN(TwoWaySystem):
    """(h) Augmented CycleGAN (Almahairi et al. 2018): stochastic many-to-many mappings.

    Generators take a latent code, G_AB(a, z_b) with z_b ~ N(0, I); latent encoders recover
    codes from image pairs, z̃_b = E_B(a, b̃) and z̃_a = E_A(b̃, a), so the cycle
    a → G_AB(a, z_b) → G_BA(b̃, z̃_a) ≈ a is well posed, and z̃_b ≈ z_b (L1, ``lambda_latent``).
    For the pairs, the identity term uses the code the encoder infers from the true pair,
    G_AB(a, E_B(a, b)) ≈ b. ``translate`` draws z ~ N(0, I) (``noise=False``: z = 0, the mode).
    Parameters as :class:`CycleGAN`, plus the encoders ``e_a``, ``e_b`` and ``lambda_latent``.
    """

    components = {**CycleGAN.components, "e_a": "arch", "e_b": "arch"}
    generator_side = ("g_ab", "g_ba", "e_a", "e_b")

    def __init__(
        self,
        g_ab: nn.Module,
        g_ba: nn.Module,
        d_a: nn.Module,
        d_b: nn.Module,
        gan_loss: nn.Module,
        e_a: nn.Module,
        e_b: nn.Module,
        *,
        lambda_cycle: float = 1000.0,
        lambda_identity: float = 0.0,
        lambda_pseudo_identity: float = 0.0,
        lambda_latent: float = 1.0,
        pool_size: int = 50,
        clip_grad: float | None = 1.0,
        lr: float = 2e-4,
        beta1: float = 0.5,
        beta2: float = 0.999,
        fused_adam: bool = True,
        max_nonfinite_steps: int = 10,
    ) -> None:
        for name, g in (("g_ab", g_ab), ("g_ba", g_ba)):
            if getattr(g, "latent_dim", 0) <= 0:
                raise ValueError(
                    f"{name}: Augmented CycleGAN needs a generator with latent_dim > 0"
                )
        for name, e, g in (("e_a", e_a, g_ba), ("e_b", e_b, g_ab)):
            if e.latent_dim != g.latent_dim:
                raise ValueError(
                    f"{name}: latent_dim {e.latent_dim} ≠ its generator's {g.latent_dim}"
                )
        super().__init__(gan_loss, pool_size=pool_size, max_nonfinite_steps=max_nonfinite_steps)
        self.g_ab, self.g_ba, self.d_a, self.d_b = g_ab, g_ba, d_a, d_b
        self.e_a, self.e_b = e_a, e_b
        self.save_hyperparameters(ignore=[*_NETWORKS, "e_a", "e_b"])

    def training_step(self, batch, batch_idx: int) -> None:
        A, mA, B, mB, n_p = two_way_batch(batch)
        size_a, size_b = tuple(A.shape[-2:]), tuple(B.shape[-2:])
        with self.guard.protect_buffers(self):
            z_b = torch.randn(A.shape[0], self.g_ab.latent_dim, device=A.device, dtype=A.dtype)
            z_a = torch.randn(B.shape[0], self.g_ba.latent_dim, device=B.device, dtype=B.dtype)
            if n_p:  # the pairs' codes come from the encoders (the supervised part)
                z_b = torch.cat([z_b[:-n_p], self.e_b(A[-n_p:], B[-n_p:])])
                z_a = torch.cat([z_a[:-n_p], self.e_a(B[-n_p:], A[-n_p:])])
            fake_b, fake_a = self.g_ab(A, size_b, z_b), self.g_ba(B, size_a, z_a)
            terms = {"gan": self.adversarial(fake_a, fake_b)}
            cycle_a = self.g_ba(fake_b, size_a, self.e_a(fake_b, A))
            cycle_b = self.g_ab(fake_a, size_b, self.e_b(fake_a, B))
            terms.update(self.pixel_terms(A, mA, B, mB, n_p, fake_a, fake_b, cycle_a, cycle_b))
            if self.hparams.lambda_latent:
                terms["latent"] = self._latent_term(A, B, fake_a, fake_b, z_a, z_b, n_p)
            self.generator_step(self.optimizers()[0], terms)
            loss_d = self.discriminator_step(A, B, fake_a.detach(), fake_b.detach())
        self.end_batch(terms, loss_d, A.shape[0])

    def _latent_term(self, A, B, fake_a, fake_b, z_a, z_b, n_p) -> torch.Tensor:
        """L1 between the codes drawn for the unpaired images and those the encoders recover."""
        n_u_a, n_u_b = A.shape[0] - n_p, B.shape[0] - n_p
        if not (n_u_a and n_u_b):
            return torch.zeros((), device=A.device)
        return self.hparams.lambda_latent * (
            (self.e_b(A[:n_u_a], fake_b[:n_u_a]) - z_b[:n_u_a]).abs().mean()
            + (self.e_a(B[:n_u_b], fake_a[:n_u_b]) - z_a[:n_u_b]).abs().mean()
        )

    def map(self, x, to, size):
        g = self.g_ab if to == "b" else self.g_ba
        return g(x, size, torch.zeros(x.shape[0], g.latent_dim, device=x.device, dtype=x.dtype))

    def translate(self, x, to, size, *, generator=None, noise=True):
        if not noise:
            return self.map(x, to, size)
        g = self.g_ab if to == "b" else self.g_ba
        return g(x, size, torch.randn((x.shape[0], g.latent_dim), generator=generator).to(x))
