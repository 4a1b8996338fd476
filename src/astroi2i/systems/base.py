"""What the two-network GAN systems share: their components, the non-finite guard, manual
optimisation with one fused Adam per network, and inference through the generator."""

from __future__ import annotations

import lightning as L
import torch
from torch import nn

from astroi2i.archs.uncertainty import predict_log_sigma, sigma_inputs
from astroi2i.losses.pixel import gaussian_nll
from astroi2i.systems.guard import NonFiniteGuard

__all__ = [
    "GANSystem",
    "adam",
    "freeze_generator",
    "lr_factors",
    "sigma_nll",
    "with_sigma_net",
    "SIGMA_LR",
]


def adam(params, hp) -> torch.optim.Adam:
    """Adam with the system's ``lr``, ``beta1``, ``beta2``; fused when ``hp.fused_adam`` and the
    device/build supports it (same update, one kernel: ~8× faster than the loop on CPU).
    ``params`` may be parameter groups (:func:`with_sigma_net`)."""
    params = list(params)
    kwargs = dict(lr=hp.lr, betas=(hp.beta1, hp.beta2))
    if hp.fused_adam:
        try:
            return torch.optim.Adam(params, fused=True, **kwargs)
        except (RuntimeError, TypeError):  # device or build without the fused kernel
            pass
    return torch.optim.Adam(params, **kwargs)


#: the σ network's learning rate: constant (no schedule, which decays the generator's to 0),
#: and higher than a GAN's, since its loss is a smooth likelihood of a fixed prediction
SIGMA_LR = 2e-3


def with_sigma_net(generator: nn.Module, sigma_net: nn.Module | None) -> list:
    """The generator's optimizer's parameter groups: the generator's, then the σ network's
    (``sigma``: not clipped, its own constant rate :data:`SIGMA_LR`). Both learn in one step:
    the σ loss cannot reach the generator, whose prediction it sees detached, and Adam scales
    every parameter on its own."""
    groups = [{"params": list(generator.parameters())}]
    if sigma_net is not None:
        groups.append({"params": list(sigma_net.parameters()), "sigma": True, "lr": SIGMA_LR})
    return groups


def lr_factors(optimizer, factor) -> list:
    """Per parameter group, the schedule ``factor`` (the σ network's group: constant 1)."""
    return [(lambda step: 1.0) if g.get("sigma") else factor for g in optimizer.param_groups]


def freeze_generator(system) -> None:
    """``model.system.freeze_generator``: the generator (started from ``trainer.init_from``)
    does not learn and stays in eval mode, so a σ network can be added to a trained model
    without changing its predictions."""
    if not system.hparams.get("freeze_generator", False):
        return
    if system.sigma_net is None:
        raise ValueError("freeze_generator needs a σ network (model.uncertainty) to train")
    system.generator.eval()
    system.generator.requires_grad_(False)


def _log_residual_level(fake, target, mask) -> torch.Tensor:
    """log of a robust residual scale per band over the scored pixels of a batch: 1.4826 ×
    the median |residual| (the σ network's starting level: that of the many quiet pixels,
    from which it grows σ where the errors are larger, rather than an RMS that the few
    brightest residuals set)."""
    r = (target - fake.detach()).abs()
    if mask is not None:
        m = mask.unsqueeze(1) if mask.dim() == r.dim() - 1 else mask
        r = torch.where(m.expand_as(r), torch.nan, r)
    scale = 1.4826 * torch.nanmedian(r.transpose(0, 1).reshape(r.shape[1], -1), dim=1).values
    return torch.log(torch.nan_to_num(scale, nan=1.0).clamp_min(1e-12))


def _set_level(net, x, fake, target, mask, *, holes: bool) -> None:
    """Fit the σ network's starting level and feature scale on this (first) batch, the same
    on every process."""
    import torch.distributed as dist

    level = _log_residual_level(fake, target, mask)
    features, _ = sigma_inputs(x, fake.detach(), holes=holes)
    square = features.float().pow(2).mean(dim=(0, 2, 3))
    if dist.is_available() and dist.is_initialized():
        for value in (level, square):
            dist.all_reduce(value)
            value /= dist.get_world_size()
    mean_square = square[None, :, None, None].expand(1, -1, 1, 1)  # set_level takes the RMS
    net.set_level(level, mean_square.sqrt())


def sigma_nll(system, x, fake, target, mask, name: str = "train") -> torch.Tensor:
    """The σ network's Gaussian NLL of ``target`` around the (detached) prediction ``fake``,
    logged as ``{name}/sigma_nll``; 0 for a system without a σ network."""
    if system.sigma_net is None:
        return fake.new_zeros(())
    net = system.sigma_net
    if name == "train" and hasattr(net, "set_level") and not int(net.level_set):
        _set_level(net, x, fake, target, mask, holes=system.fills)
    log_sigma, _ = predict_log_sigma(net, x, fake, holes=system.fills)
    nll = gaussian_nll(fake, log_sigma, target, mask)
    system.log(f"{name}/sigma_nll", nll, batch_size=x.shape[0], sync_dist=name == "val")
    return nll


class GANSystem(L.LightningModule):
    """Base of Pix2Pix and SRGAN. Subclasses define ``network_channels``, ``training_step``,
    ``validation_step`` and call ``save_hyperparameters`` with their own arguments."""

    #: the recipe keys under ``model`` a system needs, and the registry each is built from
    components = {
        "generator": "arch",
        "discriminator": "arch",
        "gan_loss": "loss",
        "pixel_loss": "loss",
    }
    #: components a recipe may add: ``uncertainty``, the σ network (archs/uncertainty.py)
    optional_components = {"uncertainty": "arch"}
    #: optimizer steps per training batch (Lightning's global_step counts each)
    steps_per_batch = 2
    #: whether the generator fills missing pixels (σ is then 0 on known ones)
    fills = False

    def __init__(
        self,
        generator: nn.Module,
        discriminator: nn.Module,
        gan_loss: nn.Module,
        pixel_loss: nn.Module,
        max_nonfinite_steps: int,
        sigma_net: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator, self.discriminator = generator, discriminator
        self.sigma_net = sigma_net
        self.gan_loss, self.pixel_loss = gan_loss, pixel_loss
        self.guard = NonFiniteGuard(max_nonfinite_steps)

    def optimizer_steps(self, batches: int) -> int:
        """Optimizer steps (Lightning's global_step) in ``batches`` training batches (one a
        batch with a frozen generator: only σ steps)."""
        if self.hparams.get("freeze_generator", False):
            return batches
        return self.steps_per_batch * batches

    def train(self, mode: bool = True):
        """As nn.Module.train, but a frozen generator (``freeze_generator``) stays in eval
        mode: its BatchNorm statistics must not move while only σ learns."""
        super().train(mode)
        freeze_generator(self)
        return self

    def _sigma_only_step(self, x, y, mask) -> bool:
        """``freeze_generator``: one step of the σ network alone, on the generator's fixed
        prediction (the discriminator is not trained: nothing it judges changes)."""
        freeze_generator(self)  # Lightning restores submodules' modes itself, so again here
        with torch.no_grad():
            fake = self.generator(x)
        opt_g = self.optimizers()[0]
        return self.guard.step(self, opt_g, sigma_nll(self, x, fake, y, mask), "σ network")

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        """Inference: the generator's prediction in stretched target units."""
        return self.generator(inputs)

    def predict_step(self, batch, batch_idx: int) -> torch.Tensor:
        return self.generator(batch["inputs"])

    def _adams(self) -> list[torch.optim.Adam]:
        return [
            adam(with_sigma_net(self.generator, self.sigma_net), self.hparams),
            adam(self.discriminator.parameters(), self.hparams),
        ]
