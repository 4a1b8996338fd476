"""Lin et al.'s noise-reconstructing GAN (:class:`TwoWayNoiseGAN`, two stages in one run) and
its one-step variant (:class:`OneStepNoiseGAN`, baseline (f)). Both translate noise-free
images and add the target survey's noise with a noise emulator; the shared terms are in
:mod:`~astroi2i.systems.twoway_base`."""

from __future__ import annotations

import torch
from torch import nn

from astroi2i.systems.base import adam
from astroi2i.systems.registry import SYSTEMS
from astroi2i.systems.twoway_base import TwoWaySystem, mse, seeds, two_way_batch

__all__ = ["TwoWayNoiseGAN", "OneStepNoiseGAN"]


class _NoiseEmulation(TwoWaySystem):
    """Adding emulated noise to a noise-free image, and translating with it."""

    def _clean(self, x: torch.Tensor, side: str) -> torch.Tensor:
        """The noise-free version of ``x``, as the system sees it."""
        raise NotImplementedError

    def _noisy(self, clean: torch.Tensor, side: str, generator=None) -> torch.Tensor:
        ne = self.ne_a if side == "a" else self.ne_b
        return clean + ne(clean, seeds(clean.shape[0], ne.seed_channels, clean.shape[-2:],
                                       clean, generator))  # fmt: skip

    def _translation_terms(self, A, mA, B, mB, n_p) -> tuple:
        """(fake A, fake B, terms): noise-free translations of the noise-free inputs, noise
        added for the discriminators, pixel terms between noise-free images."""
        size_a, size_b = tuple(A.shape[-2:]), tuple(B.shape[-2:])
        ca, cb = self._clean(A, "a"), self._clean(B, "b")
        clean_b, clean_a = self.g_ab(ca, size_b), self.g_ba(cb, size_a)
        fake_b, fake_a = self._noisy(clean_b, "b"), self._noisy(clean_a, "a")
        terms = {"gan": self.adversarial(fake_a, fake_b)}
        cycle = bool(self.hparams.lambda_cycle)
        terms.update(self.pixel_terms(
            ca, mA, cb, mB, n_p, clean_a, clean_b,
            self.g_ba(clean_b, size_a) if cycle else None,
            self.g_ab(clean_a, size_b) if cycle else None,
        ))  # fmt: skip
        return fake_a, fake_b, terms

    def translate(self, x, to, size, *, generator=None, noise=True):
        source = "a" if to == "b" else "b"
        g = self.g_ab if to == "b" else self.g_ba
        # an anchored translator is given the raw input too: its chosen correction weight may
        # weigh the output against the raw input's classical answer (ScaleGenerator.forward)
        raw = {"raw": x} if getattr(g, "anchor", False) else {}
        clean = g(self._clean(x, source), size, **raw)
        return self._noisy(clean, to, generator) if noise else clean


@SYSTEMS.register
class TwoWayNoiseGAN(_NoiseEmulation):
    """Lin et al.'s noise-reconstructing GAN, trained in two stages within one run.

    Stage ``noise`` (the first ``noise_batches`` batches): autoencoders A_A, A_B learn to
    reconstruct each domain (MSE, ``lambda_reconstruction``); their narrow bottleneck keeps
    the pixel noise out, so A(x) is the noise-free image. Noise emulators NE_A, NE_B turn
    Gaussian seeds (and the noise-free image) into noise, trained adversarially against D_A,
    D_B on A(x) + NE(A(x), seed) versus x; the autoencoders' outputs are detached there, so
    the noise loss never changes them.

    Stage ``translate`` (the remaining batches): autoencoders and emulators are frozen.
    Generators map noise-free to noise-free, G_AB(A_A(a)) ≈ A_B(b) (identity on pairs), with
    the cycle and pseudo-identity terms on noise-free images too; the discriminators judge
    G_AB(A_A(a)) + NE_B(·, seed) against real noisy b. ``translate`` returns that noisy
    translation (``noise=False``: the noise-free one).

    Optimizers: the generators, both discriminators, and the noise stage's networks.
    """

    components = {"g_ab": "arch", "g_ba": "arch", "d_a": "arch", "d_b": "arch",
                  "ae_a": "arch", "ae_b": "arch", "ne_a": "arch", "ne_b": "arch",
                  "gan_loss": "loss"}  # fmt: skip
    #: the translators read the autoencoders' output, not the raw input (:meth:`_clean`)
    cleans_input = True
    #: networks trained in stage ``noise`` only
    noise_stage = ("ae_a", "ae_b", "ne_a", "ne_b")

    def __init__(
        self,
        g_ab: nn.Module,
        g_ba: nn.Module,
        d_a: nn.Module,
        d_b: nn.Module,
        ae_a: nn.Module,
        ae_b: nn.Module,
        ne_a: nn.Module,
        ne_b: nn.Module,
        gan_loss: nn.Module,
        *,
        noise_batches: int = 500,
        lambda_reconstruction: float = 1000.0,
        lambda_cycle: float = 1000.0,
        lambda_identity: float = 1000.0,
        lambda_pseudo_identity: float = 1000.0,
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
        self.ae_a, self.ae_b, self.ne_a, self.ne_b = ae_a, ae_b, ne_a, ne_b
        self.save_hyperparameters(
            ignore=["g_ab", "g_ba", "d_a", "d_b", "ae_a", "ae_b", "ne_a", "ne_b", "gan_loss"]
        )

    def configure_optimizers(self):
        noise = [p for n in self.noise_stage for p in getattr(self, n).parameters()]
        return [*super().configure_optimizers(), adam(noise, self.hparams)]

    @property
    def stage(self) -> str:
        return "noise" if int(self.batches_seen) < self.hparams.noise_batches else "translate"

    def training_step(self, batch, batch_idx: int) -> None:
        A, mA, B, mB, n_p = two_way_batch(batch)
        with self.guard.protect_buffers(self):
            if self.stage == "noise":
                fake_a, fake_b, terms = self._noise_terms(A, mA, B, mB)
                self.generator_step(self.optimizers()[2], terms)
            else:
                for name in self.noise_stage:
                    getattr(self, name).requires_grad_(False)
                fake_a, fake_b, terms = self._translation_terms(A, mA, B, mB, n_p)
                self.generator_step(self.optimizers()[0], terms)
            loss_d = self.discriminator_step(A, B, fake_a.detach(), fake_b.detach())
        self.end_batch(terms, loss_d, A.shape[0])

    def _noise_terms(self, A, mA, B, mB) -> tuple:
        """Stage ``noise``: reconstruction, and the emulated noise on the (detached)
        reconstructions against the real images."""
        hp = self.hparams
        rec_a, rec_b = self.ae_a(A), self.ae_b(B)
        fake_a, fake_b = self._noisy(rec_a.detach(), "a"), self._noisy(rec_b.detach(), "b")
        terms = {
            "reconstruction": hp.lambda_reconstruction * (mse(rec_a, A, mA) + mse(rec_b, B, mB)),
            "gan": self.adversarial(fake_a, fake_b),
        }
        return fake_a, fake_b, terms

    def _clean(self, x: torch.Tensor, side: str) -> torch.Tensor:
        with torch.no_grad():
            return (self.ae_a if side == "a" else self.ae_b)(x)


@SYSTEMS.register
class OneStepNoiseGAN(_NoiseEmulation):
    """(f) Lin et al.'s model in one step, without autoencoders: the generators' output is the
    noise-free translation, the noise emulators (trained jointly with the generators) add the
    noise the discriminators expect. Pixel terms compare noise-free outputs with the real
    (noisy) images, so they pull towards their mean. Parameters as :class:`TwoWayNoiseGAN`
    without the autoencoders and the noise stage."""

    components = {"g_ab": "arch", "g_ba": "arch", "d_a": "arch", "d_b": "arch",
                  "ne_a": "arch", "ne_b": "arch", "gan_loss": "loss"}  # fmt: skip
    generator_side = ("g_ab", "g_ba", "ne_a", "ne_b")

    def __init__(
        self,
        g_ab: nn.Module,
        g_ba: nn.Module,
        d_a: nn.Module,
        d_b: nn.Module,
        ne_a: nn.Module,
        ne_b: nn.Module,
        gan_loss: nn.Module,
        *,
        lambda_cycle: float = 1000.0,
        lambda_identity: float = 1000.0,
        lambda_pseudo_identity: float = 1000.0,
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
        self.ne_a, self.ne_b = ne_a, ne_b
        self.save_hyperparameters(ignore=["g_ab", "g_ba", "d_a", "d_b", "ne_a", "ne_b", "gan_loss"])

    def training_step(self, batch, batch_idx: int) -> None:
        A, mA, B, mB, n_p = two_way_batch(batch)
        with self.guard.protect_buffers(self):
            fake_a, fake_b, terms = self._translation_terms(A, mA, B, mB, n_p)
            self.generator_step(self.optimizers()[0], terms)
            loss_d = self.discriminator_step(A, B, fake_a.detach(), fake_b.detach())
        self.end_batch(terms, loss_d, A.shape[0])

    def _clean(self, x: torch.Tensor, side: str) -> torch.Tensor:
        return x
