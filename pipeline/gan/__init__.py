"""The progressive GAN: layers, networks, losses, augmentation, EMA, the ladder, checkpoints and the training loop.

Library code: configs and arrays in, models out; no DVC.
"""
