import math

import pytest
import torch

from astroi2i.losses import GANLoss, MaskedL1Loss, MaskedMSELoss


def test_pixel_losses_zero_on_identical_and_hand_computed():
    a = torch.zeros(1, 1, 2, 2)
    assert MaskedL1Loss()(a, a) == 0 and MaskedMSELoss()(a, a) == 0
    b = torch.tensor([[[[1.0, -3.0], [0.0, 0.0]]]])
    assert MaskedL1Loss(weight=100.0)(b, a) == pytest.approx(100 * 4 / 4)
    assert MaskedMSELoss(weight=2.0)(b, a) == pytest.approx(2 * 10 / 4)


def test_mask_excludes_invalid_pixels():
    pred = torch.tensor([[[[1.0, 100.0], [1.0, 1.0]]]])
    target = torch.zeros_like(pred)
    mask = torch.tensor([[[False, True], [False, False]]])  # (N, H, W), True = invalid
    assert MaskedL1Loss(weight=1.0)(pred, target, mask) == pytest.approx(1.0)
    all_bad = torch.ones(1, 2, 2, dtype=torch.bool)
    assert MaskedL1Loss(weight=1.0)(pred, target, all_bad) == 0.0
    pred.requires_grad_(True)
    MaskedL1Loss(weight=1.0)(pred, target, mask).backward()
    assert pred.grad[0, 0, 0, 1] == 0 and pred.grad[0, 0, 0, 0] > 0


def test_gan_losses_hand_computed():
    zero = torch.zeros(1, 1, 3, 3)
    vanilla = GANLoss(mode="vanilla")
    assert vanilla.generator(zero) == pytest.approx(math.log(2))
    assert vanilla.discriminator(zero, zero) == pytest.approx(math.log(2))
    ls = GANLoss(mode="lsgan", weight=2.0)
    assert ls.generator(zero) == pytest.approx(2.0)
    assert ls.discriminator(torch.ones(1, 1, 2, 2), zero) == 0
    hinge = GANLoss(mode="hinge")
    assert hinge.discriminator(torch.full((1, 1, 2, 2), 2.0), torch.full((1, 1, 2, 2), -2.0)) == 0
    assert hinge.generator(torch.full((1, 1, 2, 2), 3.0)) == -3.0


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="differ"):
        MaskedL1Loss()(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 3, 3))


def test_corkit_loss_regions_weights_and_zero_on_truth():
    from astroi2i.losses import CorKitLoss

    torch.manual_seed(0)
    target = torch.rand(1, 1, 32, 32)
    prev = torch.ones(1, 1, 32, 32)
    prev[:, :, 8:24, 8:24] = 0  # hole 16² seen by the layer
    cur = torch.ones_like(prev)
    cur[:, :, 12:20, 12:20] = 0  # the layer is responsible for the 16² − 8² ring
    scored = torch.ones_like(prev)
    loss = CorKitLoss(alphas=[1, 1, 1, 1, 1])
    total, terms = loss([(target.clone(), prev, cur)], target, scored)
    assert total.item() == 0.0
    pred = target.clone()
    pred[:, :, 12:20, 12:20] += 0.5  # wrong only in the innermost 8² (not in the ring)
    only_pixels = CorKitLoss(alphas=[2, 3, 0, 0, 0])
    total, terms = only_pixels([(pred, prev, cur)], target, scored)
    assert terms["inner"].item() == pytest.approx(0.5 * 64 / 256)  # mean over the 16² hole
    assert terms["diff"].item() == pytest.approx(0.0)
    assert total.item() == pytest.approx(2 * 0.5 * 64 / 256)
    # pixels without truth are never scored
    unscored = scored.clone()
    unscored[:, :, 12:20, 12:20] = 0
    total, terms = only_pixels([(pred, prev, cur)], target, unscored)
    assert total.item() == 0.0
    total, terms = loss([(pred, prev, cur)], target, scored)
    assert terms["perceptual"].item() > 0 and terms["style"].item() > 0
    with pytest.raises(ValueError, match="5 weights"):
        CorKitLoss(alphas=[1, 2])
    # physical errors: each scaled by loss_scale, the mean divided by the region's mean scale
    scale = torch.ones_like(target)
    scale[:, :, 8:16, 8:24] = 3.0  # the upper half of the 16² hole: 3 physical units per unit
    physical = CorKitLoss(alphas=[1, 0, 0, 0, 0], space="physical")
    _, terms = physical([(pred, prev, cur)], target, scored, scale)
    # the error (0.5 on the inner 8²) lies half in the ×3 rows: (3·0.5·32 + 0.5·32) / (3·128 + 128)
    assert terms["inner"].item() == pytest.approx((3 * 0.5 * 32 + 0.5 * 32) / (3 * 128 + 128))
    both = CorKitLoss(alphas=[1, 0, 0, 0, 0], space="both")
    _, terms_both = both([(pred, prev, cur)], target, scored, scale)
    assert terms_both["inner"].item() == pytest.approx(terms["inner"].item() + 0.5 * 64 / 256)
    with pytest.raises(ValueError, match="needs the batch's loss_scale"):
        both([(pred, prev, cur)], target, scored)


def test_hole_log_mse_is_the_mean_per_image_log_mse_over_scored_holes():
    from astroi2i.losses import HoleLogMSELoss

    target = torch.zeros(3, 1, 4, 4)
    pred = torch.zeros(3, 1, 4, 4)
    pred[0, 0, 0, 0], pred[0, 0, 0, 1] = 2.0, 4.0  # image 0: errors 2 and 4 in a 2-pixel hole
    pred[1, 0, 3, 3] = 3.0  # image 1: error 3 in its 1-pixel hole; the unscored pixel is ignored
    pred[1, 0, 3, 2] = 100.0
    known = torch.ones(3, 1, 4, 4)
    known[0, 0, 0, :2] = 0
    known[1, 0, 3, 2:] = 0  # image 2 has no hole: left out
    scored = torch.ones(3, 1, 4, 4)
    scored[1, 0, 3, 2] = 0
    loss, terms = HoleLogMSELoss(eps=0.0)([(pred, known, torch.ones_like(known))], target, scored)
    expected = (torch.log(torch.tensor((4.0 + 16.0) / 2)) + torch.log(torch.tensor(9.0))) / 2
    torch.testing.assert_close(loss, expected)
    torch.testing.assert_close(terms["hole_log_mse"], expected)


def test_pixel_losses_in_physical_units_weigh_each_error_by_the_scale():
    pred = torch.tensor([[[[1.0, -2.0], [0.5, 0.0]]]])
    target = torch.zeros_like(pred)
    scale = torch.tensor([[[[3.0, 1.0], [0.0, 10.0]]]])  # physical units per stretched unit
    l1 = MaskedL1Loss(weight=1.0, space="physical")(pred, target, None, scale)
    assert l1 == pytest.approx(((3 + 2 + 0 + 0) / 4) / ((3 + 1 + 0 + 10) / 4))
    mse = MaskedMSELoss(weight=2.0, space="physical")(pred, target, None, scale)
    assert mse == pytest.approx(2 * ((9 + 4) / 4) / ((9 + 1 + 100) / 4))
    both = MaskedL1Loss(weight=1.0, space="both")(pred, target, None, scale)
    assert both == pytest.approx(l1 + 3.5 / 4)
    mask = torch.tensor([[[True, False], [False, False]]])  # the first pixel drops out
    masked = MaskedL1Loss(weight=1.0, space="physical")(pred, target, mask, scale)
    assert masked == pytest.approx((2 / 3) / (11 / 3))
    # the stretched loss ignores the scale; the others need it
    assert MaskedL1Loss(weight=1.0)(pred, target, None, scale) == pytest.approx(3.5 / 4)
    with pytest.raises(ValueError, match="needs the batch's loss_scale"):
        MaskedL1Loss(space="both")(pred, target)
    with pytest.raises(ValueError, match="space must be one of"):
        MaskedL1Loss(space="linear")
