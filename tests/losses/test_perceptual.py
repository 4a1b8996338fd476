import pytest
import torch

from astroi2i.archs.vgg import VGG19Features
from astroi2i.losses.perceptual import gram, perceptual_term, style_term


def test_vgg_layers_follow_torchvision_indices():
    vgg = VGG19Features([4, 9, 18])
    feats = vgg(torch.rand(1, 1, 32, 32))  # one band: mean-replicated to RGB
    assert [tuple(f.shape[1:]) for f in feats] == [(64, 16, 16), (128, 8, 8), (256, 4, 4)]
    assert not vgg.pretrained and not any(p.requires_grad for p in vgg.parameters())
    with pytest.raises(ValueError, match="indices 0–36"):
        VGG19Features([40])


def test_vgg_weights_from_a_torchvision_style_file(tmp_path):
    source = VGG19Features([9])
    state = {f"features.{k}": v for k, v in source.features.state_dict().items()}
    torch.save({"state_dict": state, "classifier.0.weight": torch.zeros(1)}, tmp_path / "vgg.pth")
    loaded = VGG19Features([4, 9], weights=str(tmp_path / "vgg.pth"))
    x = torch.rand(2, 3, 16, 16)
    assert loaded.pretrained
    torch.testing.assert_close(loaded(x)[1], source(x)[0])
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "partial.pth")
    with pytest.raises(ValueError, match="no VGG19 weights for"):
        VGG19Features([4], weights=str(tmp_path / "partial.pth"))


def test_perceptual_term_zero_hand_computed_and_masked():
    a = [torch.zeros(1, 2, 4, 4), torch.zeros(1, 3, 2, 2)]
    b = [torch.full((1, 2, 4, 4), 0.5), torch.ones(1, 3, 2, 2)]
    assert perceptual_term(a, a) == 0
    assert perceptual_term(b, a).item() == pytest.approx(0.5 + 1.0)
    region = torch.zeros(1, 1, 8, 8)
    region[..., :4, :4] = 1  # top-left quarter scored
    c = [torch.zeros(1, 2, 4, 4)]
    c[0][..., 2:, 2:] = 7.0  # differences only outside the region
    assert perceptual_term(c, [torch.zeros(1, 2, 4, 4)], region) == 0


def test_style_term_normalisation():
    ones = [torch.ones(1, 1, 2, 2)]
    zeros = [torch.zeros(1, 1, 2, 2)]
    assert gram(ones[0]).item() == 4.0
    assert style_term(ones, ones) == 0
    assert style_term(ones, zeros).item() == pytest.approx(4.0 / (1**3 * 2 * 2))
    two = [torch.ones(1, 2, 2, 2)]  # C = 2: Gram entries 4, four of them → 16 / (8·4)
    assert style_term(two, [torch.zeros(1, 2, 2, 2)]).item() == pytest.approx(16 / 32)
