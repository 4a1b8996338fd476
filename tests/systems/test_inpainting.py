"""PConvInpainting: training steps and gradient clipping (fine-tuning: tests/workflows)."""

import lightning as L
import pytest
import torch

from astroi2i.config import apply_overrides, load_recipe, resolve_recipe
from astroi2i.systems.build import build_system

TINY = ["model.generator.depth=3", "model.generator.base_channels=4", "model.generator.grow=4"]


def _system(extra=()):
    recipe = resolve_recipe(apply_overrides(load_recipe("inpaint_small"), [*TINY, *extra]))
    return build_system(recipe["model"], 1, 1)


def _loader():
    x = torch.rand(4, 1, 32, 32)
    hole = torch.zeros(4, 32, 32, dtype=torch.bool)
    hole[:, 8:24, 8:24] = True
    mask = torch.zeros(4, 32, 32, dtype=torch.bool)
    mask[:, :4, :4] = True  # e.g. the occulter: neither input nor scored
    samples = [
        {"inputs": torch.where(hole[i], 0.0, x[i]), "target": x[i], "mask": mask[i],
         "hole": hole[i]}
        for i in range(4)
    ]  # fmt: skip
    return torch.utils.data.DataLoader(samples, batch_size=2)


def _fit(system, steps=2):
    trainer = L.Trainer(
        max_steps=steps,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(system, train_dataloaders=_loader(), val_dataloaders=_loader())
    return trainer


@pytest.mark.slow
def test_two_training_steps_change_parameters_with_finite_losses():
    torch.manual_seed(0)
    system = _system()
    before = {k: v.clone() for k, v in system.generator.state_dict().items()}
    trainer = _fit(system)
    assert trainer.global_step == 2  # one optimizer step per batch
    m = trainer.callback_metrics
    for key in ("train/loss", "train/loss_inner", "train/loss_style", "val/l1"):
        assert torch.isfinite(m[key]), key
    after = system.generator.state_dict()
    assert any(not torch.equal(after[k], before[k]) for k in after if after[k].is_floating_point())


@pytest.mark.slow
def test_clipping_bounds_the_update(monkeypatch):
    seen = []
    original = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm, *args, **kwargs):
        seen.append(max_norm)
        out = original(params, max_norm, *args, **kwargs)
        total = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params]))
        assert total <= max_norm * 1.001
        return out

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    _fit(_system(["model.system.clip=0.001"]))
    assert seen == [0.001, 0.001]
