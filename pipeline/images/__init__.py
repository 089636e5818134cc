"""Image library: loading, hashing and near-duplicate search, resizing, the raw store, grids and the colour-field paintings.

Library code: arrays and paths in, values out; no DVC.
"""
