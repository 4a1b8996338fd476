"""Datasets, stretches, augmentation and tiling: where numpy arrays become torch tensors."""
