"""Image and science metrics on numpy arrays (no torch)."""

from astroi2i.metrics.image import band_metrics, flux_ratio, mae, psnr, ssim

__all__ = ["psnr", "ssim", "mae", "flux_ratio", "band_metrics"]
