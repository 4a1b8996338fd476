"""What the two-way systems share (Lin et al., "Galaxy image translation with semi-supervised
noise-reconstructed GANs", ICPR 2020, and its baselines): the mixed batch, the image pool,
the pixel terms, the discriminator step, validation and the optimizers. The systems
themselves are in :mod:`~astroi2i.systems.cyclegan` and :mod:`~astroi2i.systems.noise_gan`,
each with its own ``__init__`` and ``training_step``.

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

from astroi2i.archs.twoway import resample
from astroi2i.losses.pixel import masked_mean
from astroi2i.systems.base import adam
from astroi2i.systems.guard import NonFiniteGuard

__all__ = ["ImagePool", "TwoWaySystem", "two_way_batch", "mse", "seeds"]


def mse(pred: torch.Tensor, target: torch.Tensor, invalid: torch.Tensor | None) -> torch.Tensor:
    return masked_mean((pred - target) ** 2, invalid)


def seeds(n: int, channels: int, size, like: torch.Tensor, generator=None) -> torch.Tensor:
    """N(0, 1) seed maps (n, channels, *size), drawn on the CPU generator given (or torch's
    global one) so that results do not depend on the device."""
    out = torch.randn((n, channels, *size), generator=generator)
    return out.to(device=like.device, dtype=like.dtype)


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


def two_way_batch(batch: dict) -> tuple:
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
    """The base of every two-way system: it holds the adversarial loss, the image pools, the
    guard and the batch counter, and gives the steps the systems share. A subclass sets its
    networks as attributes in its own ``__init__`` and writes its ``training_step``.

    Two optimizers at least: the generator side (``generator_side``) and both
    discriminators."""

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

    def __init__(self, gan_loss, *, pool_size: int, max_nonfinite_steps: int) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.gan_loss = gan_loss
        self.pools = {"a": ImagePool(pool_size), "b": ImagePool(pool_size)}
        self.guard = NonFiniteGuard(max_nonfinite_steps)
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

    # ---- the steps every system's training_step is made of ---------------------------------
    def generator_step(self, optimizer, terms: dict) -> None:
        """One guarded, clipped step of ``optimizer`` on the sum of ``terms``."""
        self.guard.step(self, optimizer, sum(terms.values()), "generators",
                        clip=self.hparams.clip_grad)  # fmt: skip

    def discriminator_step(self, A, B, fake_a, fake_b) -> torch.Tensor:
        """Both discriminators: real images against pooled (detached) fakes."""
        opt_d = self.optimizers()[1]
        loss_d = self.gan_loss.discriminator(
            self.d_b(B), self.d_b(self.pools["b"].query(fake_b))
        ) + self.gan_loss.discriminator(self.d_a(A), self.d_a(self.pools["a"].query(fake_a)))
        self.guard.step(self, opt_d, loss_d, "discriminators", clip=self.hparams.clip_grad)
        return loss_d

    def end_batch(self, terms: dict, loss_d: torch.Tensor, n: int) -> None:
        """Count the batch and log its terms."""
        self.batches_seen += 1
        logs = {f"train/{k}": v.detach() for k, v in terms.items()}
        logs.update(
            {"train/loss_d": loss_d.detach(), "train/skipped_steps": float(self.guard.skipped)}
        )
        self.log_dict(logs, prog_bar=False, batch_size=n)

    def adversarial(self, fake_a, fake_b) -> torch.Tensor:
        gan = self.gan_loss.generator
        return gan(self.d_b(fake_b)) + gan(self.d_a(fake_a))

    def map(self, x: torch.Tensor, to: str, size) -> torch.Tensor:
        """The deterministic generator mapping into ``to`` (pseudo-identity uses it)."""
        return (self.g_ab if to == "b" else self.g_ba)(x, size)

    def pixel_terms(self, A, mA, B, mB, n_p, fake_a, fake_b, cycle_a, cycle_b) -> dict:
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
                mse(self.map(resample(B, size_a), "b", size_b), B, mB)
                + mse(self.map(resample(A, size_b), "a", size_a), A, mA)
            )
        return terms

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
        return self.map(x, to, size)
