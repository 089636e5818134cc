"""Evaluation metrics: quality (SWD, precision), diversity (MS-SSIM, distinct share, recall, modes) and memorization.

Library code: arrays in, numbers out; no DVC or params.yaml. ``report.measure``
runs them all on one resolution's samples and training images.
"""
