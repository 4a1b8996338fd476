"""Two-way, semi-supervised translation between surveys with different grids (Lin et al.,
"Galaxy image translation with semi-supervised noise-reconstructed GANs", ICPR 2020) and its
baselines, as LightningModules with the steps written out.

Notation: a batch holds domain-A images ``A`` (unpaired A, then the A halves of the pairs) and
domain-B images ``B`` (unpaired B, then the B halves); the last ``n_p`` of each are the pairs.
All pixel terms are masked mean squared errors in the stretched units of the target.

- **identity** (paired data): G_AB(a) ≈ b and G_BA(b) ≈ a for the pairs (a, b): the
  supervised term, Lin et al.'s "identity loss" (the pix2pix baseline has only this);
- **cycle**: G_BA(G_AB(a)) ≈ a and G_AB(G_BA(b)) ≈ b on every image (Zhu et al. 2017);
- **pseudo-identity**: CycleGAN's identity term G_AB(b) ≈ b adapted to grids of different
  sizes: b is first resampled onto A's grid, G_AB(resample(b)) ≈ b (and the reverse);
- **adversarial**: cross-entropy ("vanilla") or another :class:`GANLoss` on one
  discriminator per domain, fed from an image pool of past fakes (Shrivastava et al. 2017).

Gradients are clipped to ``clip_grad`` (global L2 norm) before every step, as Lin et al. do.
"""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from astroi2i.archs.twoway import resample
from astroi2i.losses.pixel import masked_mean
from astroi2i.systems.base import adam
from astroi2i.systems.guard import NonFiniteGuard
from astroi2i.systems.registry import SYSTEMS

__all__ = ["ImagePool", "CycleGAN", "AugmentedCycleGAN", "TwoWayNoiseGAN", "OneStepNoiseGAN"]


def mse(pred: torch.Tensor, target: torch.Tensor, invalid: torch.Tensor | None) -> torch.Tensor:
    return masked_mean((pred - target) ** 2, invalid)


class ImagePool:
    """CycleGAN's history buffer: the discriminator sees, for each new fake, either the fake or
    (with probability ½, once the pool is full) a random older one, which damps oscillation.
    Draws from torch's global generator (saved in checkpoints), so resumes are exact."""

    def __init__(self, size: int) -> None:
        self.size = int(size)
        self.images: list[torch.Tensor] = []

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images.detach()
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif float(torch.rand(())) < 0.5:
                i = int(torch.randint(len(self.images), ()))
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state(self) -> torch.Tensor | None:
        return torch.stack(self.images).cpu() if self.images else None

    def load(self, state: torch.Tensor | None, device) -> None:
        self.images = [] if state is None else [t.to(device) for t in state]


def _domains(batch: dict) -> tuple:
    """(A, A mask, B, B mask, number of pairs) from a mixed batch (items flattened)."""

    def flat(key):
        value = batch.get(key)
        return None if value is None else value.flatten(0, 1)

    def side(unpaired, paired):
        parts = [flat(k) for k in (unpaired, paired) if batch.get(k) is not None]
        masks = [flat(f"{k}_mask") for k in (unpaired, paired) if batch.get(k) is not None]
        return torch.cat(parts), torch.cat(masks)

    a, ma = side("a", "pa")
    b, mb = side("b", "pb")
    n_p = 0 if batch.get("pa") is None else batch["pa"].shape[0] * batch["pa"].shape[1]
    return a, ma, b, mb, n_p


class TwoWaySystem(L.LightningModule):
    """What every two-way system shares: channels of its networks, the pools, the guard, the
    optimizers (one for the generator side, one for both discriminators), validation (mean L1
    of both directions on the pairs, deterministic outputs) and :meth:`translate`."""

    two_way = True
    steps_per_batch = 2
    components: dict[str, str] = {}
    #: networks whose parameters the generator-side optimizer updates
    generator_side = ("g_ab", "g_ba")

    @staticmethod
    def network_channels(in_channels: int, out_channels: int) -> dict[str, dict[str, int]]:
        """A has ``in_channels`` bands, B ``out_channels``."""
        a, b = in_channels, out_channels
        return {
            "g_ab": {"in_channels": a, "out_channels": b},
            "g_ba": {"in_channels": b, "out_channels": a},
            "d_a": {"in_channels": a},
            "d_b": {"in_channels": b},
            "e_a": {"in_channels": a + b},
            "e_b": {"in_channels": a + b},
            "ae_a": {"channels": a},
            "ae_b": {"channels": b},
            "ne_a": {"channels": a},
            "ne_b": {"channels": b},
        }

    def _setup(self, networks: dict[str, nn.Module], gan_loss, pool_size: int, max_nonfinite):
        self.automatic_optimization = False
        for name, net in networks.items():
            setattr(self, name, net)
        self.gan_loss = gan_loss
        self.pools = {"a": ImagePool(pool_size), "b": ImagePool(pool_size)}
        self.guard = NonFiniteGuard(max_nonfinite)
        # batches trained so far (a buffer: it travels in the checkpoint, so a two-stage
        # schedule resumes in the right stage even when a guarded step was skipped)
        self.register_buffer("batches_seen", torch.zeros((), dtype=torch.long))

    def optimizer_steps(self, batches: int) -> int:
        return self.steps_per_batch * batches

    def configure_optimizers(self):
        g_params = [p for n in self.generator_side for p in getattr(self, n).parameters()]
        d_params = [*self.d_a.parameters(), *self.d_b.parameters()]
        return [adam(g_params, self.hparams), adam(d_params, self.hparams)]

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        checkpoint["image_pools"] = {k: pool.state() for k, pool in self.pools.items()}

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        for k, state in checkpoint.get("image_pools", {}).items():
            self.pools[k].load(state, self.device)

    def _step(self, optimizer, loss: torch.Tensor, name: str) -> bool:
        return self.guard.step(self, optimizer, loss, name, clip=self.hparams.clip_grad)

    def _discriminator_step(self, opt_d, A, B, fake_a, fake_b) -> torch.Tensor:
        loss_d = self.gan_loss.discriminator(
            self.d_b(B), self.d_b(self.pools["b"].query(fake_b))
        ) + self.gan_loss.discriminator(self.d_a(A), self.d_a(self.pools["a"].query(fake_a)))
        self._step(opt_d, loss_d, "discriminators")
        return loss_d

    def training_step(self, batch, batch_idx: int) -> None:
        A, mA, B, mB, n_p = _domains(batch)
        opt_d = self.optimizers()[1]
        with self.guard.protect_buffers(self):
            fake_a, fake_b, terms = self._generator_terms(A, mA, B, mB, n_p)
            loss_g = sum(terms.values())
            self._step(self._generator_optimizer(), loss_g, "generators")
            loss_d = self._discriminator_step(opt_d, A, B, fake_a.detach(), fake_b.detach())
        self.batches_seen += 1
        logs = {f"train/{k}": v.detach() for k, v in terms.items()}
        logs.update(
            {"train/loss_d": loss_d.detach(), "train/skipped_steps": float(self.guard.skipped)}
        )
        self.log_dict(logs, prog_bar=False, batch_size=A.shape[0])

    def _map(self, x: torch.Tensor, to: str, size) -> torch.Tensor:
        """The deterministic generator mapping into ``to`` (pseudo-identity uses it)."""
        return (self.g_ab if to == "b" else self.g_ba)(x, size)

    def _pixel_terms(self, A, mA, B, mB, n_p, fake_a, fake_b, cycle_a, cycle_b) -> dict:
        """The weighted MSE terms shared by the family; ``cycle_a``/``cycle_b`` are the
        round trips (None without a cycle term)."""
        hp, terms = self.hparams, {}
        if hp.lambda_cycle:
            terms["cycle"] = hp.lambda_cycle * (mse(cycle_a, A, mA) + mse(cycle_b, B, mB))
        if hp.lambda_identity and n_p:
            terms["identity"] = hp.lambda_identity * (
                mse(fake_b[-n_p:], B[-n_p:], mB[-n_p:]) + mse(fake_a[-n_p:], A[-n_p:], mA[-n_p:])
            )
        if hp.lambda_pseudo_identity:
            size_a, size_b = tuple(A.shape[-2:]), tuple(B.shape[-2:])
            terms["pseudo_identity"] = hp.lambda_pseudo_identity * (
                mse(self._map(resample(B, size_a), "b", size_b), B, mB)
                + mse(self._map(resample(A, size_b), "a", size_a), A, mA)
            )
        return terms

    def _generator_optimizer(self):
        return self.optimizers()[0]

    def validation_step(self, batch, batch_idx: int) -> None:
        pa, pb = batch["pa"].flatten(0, 1), batch["pb"].flatten(0, 1)
        ma, mb = batch["pa_mask"].flatten(0, 1), batch["pb_mask"].flatten(0, 1)
        fake_b = self.translate(pa, "b", tuple(pb.shape[-2:]), noise=False)
        fake_a = self.translate(pb, "a", tuple(pa.shape[-2:]), noise=False)
        l1 = 0.5 * (masked_mean((fake_b - pb).abs(), mb) + masked_mean((fake_a - pa).abs(), ma))
        self.log("val/l1", l1, prog_bar=True, batch_size=pa.shape[0], sync_dist=True)

    def translate(
        self,
        x: torch.Tensor,
        to: str,
        size: tuple[int, int],
        *,
        generator: torch.Generator | None = None,
        noise: bool = True,
    ) -> torch.Tensor:
        """Translate stretched images ``x`` of one domain into domain ``to`` ("a" or "b") on a
        grid of ``size``. Stochastic systems draw their seeds from ``generator``; ``noise=False``
        gives their deterministic part (the mean latent, or no emulated noise)."""
        g = self.g_ab if to == "b" else self.g_ba
        return g(x, size)


def _seeds(n: int, channels: int, size, like: torch.Tensor, generator=None) -> torch.Tensor:
    """N(0, 1) seed maps (n, channels, *size), drawn on the CPU generator given (or torch's
    global one) so that results do not depend on the device."""
    seeds = torch.randn((n, channels, *size), generator=generator)
    return seeds.to(device=like.device, dtype=like.dtype)


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
        super().__init__()
        self._setup(dict(g_ab=g_ab, g_ba=g_ba, d_a=d_a, d_b=d_b), gan_loss, pool_size,
                    max_nonfinite_steps)  # fmt: skip
        self.save_hyperparameters(ignore=["g_ab", "g_ba", "d_a", "d_b", "gan_loss"])

    def _generator_terms(self, A, mA, B, mB, n_p):
        size_a, size_b = tuple(A.shape[-2:]), tuple(B.shape[-2:])
        fake_b, fake_a = self.g_ab(A, size_b), self.g_ba(B, size_a)
        terms = {"gan": self.gan_loss.generator(self.d_b(fake_b))
                 + self.gan_loss.generator(self.d_a(fake_a))}  # fmt: skip
        cycle_a = self.g_ba(fake_b, size_a) if self.hparams.lambda_cycle else None
        cycle_b = self.g_ab(fake_a, size_b) if self.hparams.lambda_cycle else None
        terms.update(self._pixel_terms(A, mA, B, mB, n_p, fake_a, fake_b, cycle_a, cycle_b))
        return fake_a, fake_b, terms


@SYSTEMS.register
class AugmentedCycleGAN(CycleGAN):
    """(h) Augmented CycleGAN (Almahairi et al. 2018): stochastic many-to-many mappings.

    Generators take a latent code, G_AB(a, z_b) with z_b ~ N(0, I); latent encoders recover
    codes from image pairs, z̃_b = E_B(a, b̃) and z̃_a = E_A(b̃, a), so the cycle
    a → G_AB(a, z_b) → G_BA(b̃, z̃_a) ≈ a is well posed, and z̃_b ≈ z_b (L1, ``lambda_latent``).
    For the pairs, the identity term uses the code the encoder infers from the true pair,
    G_AB(a, E_B(a, b)) ≈ b. ``translate`` draws z ~ N(0, I) (``noise=False``: z = 0, the mode).
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
        super(CycleGAN, self).__init__()  # skip CycleGAN.__init__ (other networks)
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
        self._setup(dict(g_ab=g_ab, g_ba=g_ba, d_a=d_a, d_b=d_b, e_a=e_a, e_b=e_b), gan_loss,
                    pool_size, max_nonfinite_steps)  # fmt: skip
        self.save_hyperparameters(ignore=["g_ab", "g_ba", "d_a", "d_b", "gan_loss", "e_a", "e_b"])

    def _generator_terms(self, A, mA, B, mB, n_p):
        hp = self.hparams
        size_a, size_b = tuple(A.shape[-2:]), tuple(B.shape[-2:])
        z_b = torch.randn(A.shape[0], self.g_ab.latent_dim, device=A.device, dtype=A.dtype)
        z_a = torch.randn(B.shape[0], self.g_ba.latent_dim, device=B.device, dtype=B.dtype)
        if n_p:  # the pairs' codes come from the encoders (the supervised part)
            z_b = torch.cat([z_b[:-n_p], self.e_b(A[-n_p:], B[-n_p:])])
            z_a = torch.cat([z_a[:-n_p], self.e_a(B[-n_p:], A[-n_p:])])
        fake_b, fake_a = self.g_ab(A, size_b, z_b), self.g_ba(B, size_a, z_a)
        terms = {"gan": self.gan_loss.generator(self.d_b(fake_b))
                 + self.gan_loss.generator(self.d_a(fake_a))}  # fmt: skip
        cycle_a = self.g_ba(fake_b, size_a, self.e_a(fake_b, A))
        cycle_b = self.g_ab(fake_a, size_b, self.e_b(fake_a, B))
        terms.update(self._pixel_terms(A, mA, B, mB, n_p, fake_a, fake_b, cycle_a, cycle_b))
        if hp.lambda_latent:
            n_u_a, n_u_b = A.shape[0] - n_p, B.shape[0] - n_p
            terms["latent"] = (
                hp.lambda_latent
                * (
                    (self.e_b(A[:n_u_a], fake_b[:n_u_a]) - z_b[:n_u_a]).abs().mean()
                    + (self.e_a(B[:n_u_b], fake_a[:n_u_b]) - z_a[:n_u_b]).abs().mean()
                )
                if n_u_a and n_u_b
                else torch.zeros((), device=A.device)
            )
        return fake_a, fake_b, terms

    def _map(self, x, to, size):
        g = self.g_ab if to == "b" else self.g_ba
        return g(x, size, torch.zeros(x.shape[0], g.latent_dim, device=x.device, dtype=x.dtype))

    def translate(self, x, to, size, *, generator=None, noise=True):
        if not noise:
            return self._map(x, to, size)
        g = self.g_ab if to == "b" else self.g_ba
        return g(x, size, torch.randn((x.shape[0], g.latent_dim), generator=generator).to(x))


@SYSTEMS.register
class TwoWayNoiseGAN(TwoWaySystem):
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
    """

    components = {"g_ab": "arch", "g_ba": "arch", "d_a": "arch", "d_b": "arch",
                  "ae_a": "arch", "ae_b": "arch", "ne_a": "arch", "ne_b": "arch",
                  "gan_loss": "loss"}  # fmt: skip
    #: networks trained in stage ``noise`` only
    frozen_in_translate = ("ae_a", "ae_b", "ne_a", "ne_b")

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
        super().__init__()
        self._setup(dict(g_ab=g_ab, g_ba=g_ba, d_a=d_a, d_b=d_b, ae_a=ae_a, ae_b=ae_b,
                         ne_a=ne_a, ne_b=ne_b), gan_loss, pool_size,
                    max_nonfinite_steps)  # fmt: skip
        self.save_hyperparameters(
            ignore=["g_ab", "g_ba", "d_a", "d_b", "ae_a", "ae_b", "ne_a", "ne_b", "gan_loss"]
        )

    def configure_optimizers(self):
        """Generator side, discriminators and, where there is a noise stage, the networks it
        trains (autoencoders and emulators)."""
        optimizers = super().configure_optimizers()
        noise = [p for n in self.frozen_in_translate for p in getattr(self, n).parameters()]
        return optimizers + [adam(noise, self.hparams)] if noise else optimizers

    @property
    def stage(self) -> str:
        noise_batches = self.hparams.get("noise_batches", 0)
        return "noise" if int(self.batches_seen) < noise_batches else "translate"

    def _generator_optimizer(self):
        return self.optimizers()[2 if self.stage == "noise" else 0]

    def _clean(self, x: torch.Tensor, side: str) -> torch.Tensor:
        with torch.no_grad():
            return (self.ae_a if side == "a" else self.ae_b)(x)

    def _noisy(self, clean: torch.Tensor, side: str, generator=None) -> torch.Tensor:
        ne = self.ne_a if side == "a" else self.ne_b
        return clean + ne(clean, _seeds(clean.shape[0], ne.seed_channels, clean.shape[-2:],
                                        clean, generator))  # fmt: skip

    def _generator_terms(self, A, mA, B, mB, n_p):
        if self.stage == "noise":
            return self._noise_terms(A, mA, B, mB)
        for name in self.frozen_in_translate:
            getattr(self, name).requires_grad_(False)
        size_a, size_b = tuple(A.shape[-2:]), tuple(B.shape[-2:])
        ca, cb = self._clean(A, "a"), self._clean(B, "b")
        clean_b, clean_a = self.g_ab(ca, size_b), self.g_ba(cb, size_a)
        fake_b, fake_a = self._noisy(clean_b, "b"), self._noisy(clean_a, "a")
        gan = self.gan_loss.generator
        terms = {"gan": gan(self.d_b(fake_b)) + gan(self.d_a(fake_a))}
        cycle = bool(self.hparams.lambda_cycle)
        terms.update(self._pixel_terms(
            ca, mA, cb, mB, n_p, clean_a, clean_b,
            self.g_ba(clean_b, size_a) if cycle else None,
            self.g_ab(clean_a, size_b) if cycle else None,
        ))  # fmt: skip
        return fake_a, fake_b, terms

    def _noise_terms(self, A, mA, B, mB):
        hp = self.hparams
        rec_a, rec_b = self.ae_a(A), self.ae_b(B)
        fake_a, fake_b = self._noisy(rec_a.detach(), "a"), self._noisy(rec_b.detach(), "b")
        gan = self.gan_loss.generator
        terms = {
            "reconstruction": hp.lambda_reconstruction * (mse(rec_a, A, mA) + mse(rec_b, B, mB)),
            "gan": gan(self.d_a(fake_a)) + gan(self.d_b(fake_b)),
        }
        return fake_a, fake_b, terms

    def translate(self, x, to, size, *, generator=None, noise=True):
        source = "a" if to == "b" else "b"
        g = self.g_ab if to == "b" else self.g_ba
        clean = g(self._clean(x, source), size)
        return self._noisy(clean, to, generator) if noise else clean


@SYSTEMS.register
class OneStepNoiseGAN(TwoWayNoiseGAN):
    """(f) Lin et al.'s model in one step, without autoencoders: the generators' output is the
    noise-free translation, the noise emulators (trained jointly with the generators) add the
    noise the discriminators expect. Pixel terms compare noise-free outputs with the real
    (noisy) images, so they pull towards their mean."""

    components = {"g_ab": "arch", "g_ba": "arch", "d_a": "arch", "d_b": "arch",
                  "ne_a": "arch", "ne_b": "arch", "gan_loss": "loss"}  # fmt: skip
    generator_side = ("g_ab", "g_ba", "ne_a", "ne_b")
    frozen_in_translate = ()

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
        super(TwoWayNoiseGAN, self).__init__()  # skip TwoWayNoiseGAN.__init__
        self._setup(dict(g_ab=g_ab, g_ba=g_ba, d_a=d_a, d_b=d_b, ne_a=ne_a, ne_b=ne_b),
                    gan_loss, pool_size, max_nonfinite_steps)  # fmt: skip
        self.save_hyperparameters(ignore=["g_ab", "g_ba", "d_a", "d_b", "ne_a", "ne_b", "gan_loss"])

    def _clean(self, x, side):
        return x
