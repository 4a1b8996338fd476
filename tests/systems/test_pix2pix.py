import numpy as np
import torch

from astroi2i.config import apply_overrides, load_recipe, resolve_recipe
from astroi2i.workflows.build import build_system
from astroi2i.workflows.checkpoint import load_checkpoint


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


def test_two_training_steps_change_parameters_with_finite_losses():
    import lightning as L

    torch.manual_seed(0)
    system = _tiny_system()
    assert system.discriminator.model[0].in_channels == 3  # conditional: inputs + target
    before = {k: v.clone() for k, v in system.state_dict().items()}
    batch = {
        "inputs": torch.randn(2, 2, 32, 32),
        "target": torch.randn(2, 1, 32, 32),
        "mask": torch.zeros(2, 32, 32, dtype=torch.bool),
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


def test_checkpoint_round_trip_reproduces_the_generator(tiny_checkpoint):
    generator, meta = load_checkpoint(tiny_checkpoint.checkpoint)
    assert meta["input_bands"] == ["shallow_g", "shallow_r"] and meta["target_bands"] == ["deep_r"]
    assert meta["recipe"]["model"]["generator"]["depth"] == 3
    assert meta["stretches"]["inputs"]["type"] == "AsinhStretch"
    assert len(meta["stretches"]["inputs"]["softening"]) == 2  # fitted per band
    assert meta["versions"]["torch"].startswith(torch.__version__.split("+")[0])
    ckpt = torch.load(tiny_checkpoint.checkpoint, weights_only=True)
    state = {
        k[len("generator.") :]: v
        for k, v in ckpt["state_dict"].items()
        if k.startswith("generator.")
    }
    for key, value in generator.state_dict().items():
        torch.testing.assert_close(value, state[key])
    x = torch.randn(1, 2, 32, 32)
    with torch.no_grad():
        np.testing.assert_array_equal(generator(x).numpy(), generator(x).numpy())  # eval mode
    assert (tiny_checkpoint.workdir / "config.yaml").is_file()
    assert (tiny_checkpoint.workdir / "logs" / "metrics.csv").is_file()
