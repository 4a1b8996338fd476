import numpy as np
import pytest
import torch

from astroi2i.config import apply_overrides, load_recipe, resolve_recipe
from astroi2i.systems.build import build_system
from astroi2i.workflows.model import load_model


def _tiny_system():
    recipe = resolve_recipe(
        apply_overrides(
            load_recipe("pix2pix_quickstart"),
            [
                "model.generator.depth=3",
                "model.generator.base_channels=4",
                "model.discriminator.base_channels=4",
                "model.discriminator.n_layers=1",
            ],
        )
    )
    return build_system(recipe["model"], 2, 1)


@pytest.mark.slow
def test_two_training_steps_change_parameters_with_finite_losses():
    import lightning as L

    torch.manual_seed(0)
    system = _tiny_system()
    assert system.discriminator.model[0].in_channels == 3  # conditional: inputs + target
    before = {k: v.clone() for k, v in system.state_dict().items()}
    target = torch.randn(2, 1, 32, 32)
    batch = {
        "inputs": torch.randn(2, 2, 32, 32),
        "target": target,
        "mask": torch.zeros(2, 32, 32, dtype=torch.bool),
        "loss_scale": torch.cosh(target),  # the quickstart's loss also scores physical errors
    }
    loader = torch.utils.data.DataLoader(
        [{k: v[i] for k, v in batch.items()} for i in range(2)] * 2, batch_size=2
    )
    trainer = L.Trainer(
        max_steps=4,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    trainer.fit(system, train_dataloaders=loader, val_dataloaders=loader)
    assert trainer.global_step == 4  # 2 batches × (D step + G step)
    metrics = trainer.callback_metrics
    assert all(torch.isfinite(metrics[k]) for k in ("train/loss_d", "train/loss_g_pixel", "val/l1"))
    after = system.state_dict()
    for prefix in ("generator.", "discriminator."):
        changed = [
            k
            for k in after
            if k.startswith(prefix)
            and after[k].is_floating_point()
            and not torch.equal(after[k], before[k])
        ]
        assert changed, prefix


@pytest.mark.slow
def test_checkpoint_round_trip_reproduces_the_generator(tiny_checkpoint):
    generator, meta = load_model(tiny_checkpoint.checkpoint)
    assert meta.input_bands == ("shallow_g", "shallow_r") and meta.target_bands == ("deep_r",)
    assert meta.recipe["model"]["generator"]["depth"] == 3
    assert meta.stretches["inputs"]["type"] == "AsinhStretch"
    assert len(meta.stretches["inputs"]["softening"]) == 2  # fitted per band
    assert meta.versions["torch"].startswith(torch.__version__.split("+")[0])
    ckpt = torch.load(tiny_checkpoint.checkpoint, weights_only=True)
    # the recipe has a σ network: the inference module holds generator.* and sigma_net.*
    state = ckpt["state_dict"]
    assert any(k.startswith("sigma_net.") for k in generator.state_dict())
    for key, value in generator.state_dict().items():
        torch.testing.assert_close(value, state[key])
    # eval mode, and the same function as a generator built from the recipe by hand
    from astroi2i.systems.build import build_generator

    assert not any(m.training for m in generator.modules())
    fresh = build_generator(meta.recipe["model"], 2, 1)
    fresh.load_state_dict({k: v for k, v in state.items()
                           if k.startswith(("generator.", "sigma_net."))})  # fmt: skip
    x = torch.randn(1, 2, 32, 32)
    with torch.no_grad():
        np.testing.assert_array_equal(generator(x).numpy(), fresh.eval()(x).numpy())
    workdir = tiny_checkpoint.workdir
    assert (workdir / "config.yaml").is_file()
    metrics = (workdir / "logs" / "metrics.csv").read_text().splitlines()
    assert "val/l1" in metrics[0] and len(metrics) > 1
    assert list((workdir / "tensorboard").glob("events.out.tfevents.*"))
    assert list((workdir / "panels").glob("val_batch*.png"))


def _fit(system, batches, max_steps):
    import lightning as L

    trainer = L.Trainer(max_steps=max_steps, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0)  # fmt: skip
    loader = torch.utils.data.DataLoader(batches, batch_size=None)
    trainer.fit(system, train_dataloaders=loader)
    return trainer


def _batch(bad=False):
    x = torch.randn(2, 2, 32, 32)
    if bad:
        x[0, 0, 5, 5] = float("nan")  # a NaN the mask does not cover
    target = torch.randn(2, 1, 32, 32)
    return {"inputs": x, "target": target, "loss_scale": torch.cosh(target),
            "mask": torch.zeros(2, 32, 32, dtype=torch.bool)}  # fmt: skip


@pytest.mark.slow
def test_nan_batch_is_skipped_and_weights_stay_finite():
    import lightning as L

    torch.manual_seed(0)
    system = _tiny_system()
    snapshots = {}

    class Snap(L.Callback):
        def on_train_batch_start(self, trainer, module, batch, idx):
            snapshots[("start", idx)] = {k: v.clone() for k, v in module.state_dict().items()}

        def on_train_batch_end(self, trainer, module, outputs, batch, idx):
            snapshots[("end", idx)] = {k: v.clone() for k, v in module.state_dict().items()}

    import lightning as L  # noqa: F811

    trainer = L.Trainer(max_steps=6, logger=False, enable_checkpointing=False,
                        enable_progress_bar=False, enable_model_summary=False,
                        limit_val_batches=0, callbacks=[Snap()])  # fmt: skip
    batches = [_batch(), _batch(bad=True), _batch(), _batch()]
    trainer.fit(system, train_dataloaders=torch.utils.data.DataLoader(batches, batch_size=None))
    assert system.guard.skipped == 2  # D and G steps of the NaN batch
    before, after = snapshots[("start", 1)], snapshots[("end", 1)]
    weights = [k for k in before if before[k].is_floating_point() and "running" not in k]
    assert all(torch.equal(before[k], after[k]) for k in weights)
    assert all(
        torch.isfinite(v).all() for v in system.state_dict().values() if v.is_floating_point()
    )
    assert trainer.global_step == 6  # skipped steps are not counted: 3 good batches × 2


@pytest.mark.slow
def test_consecutive_nan_batches_stop_the_run():
    import pytest

    from astroi2i.errors import TrainingDiverged

    system = _tiny_system()
    system.guard.max_consecutive = 3
    with pytest.raises(TrainingDiverged, match="3 consecutive optimizer steps"):
        _fit(system, [_batch(bad=True)] * 5, max_steps=10)
