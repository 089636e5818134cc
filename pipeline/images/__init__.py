"""Generic image helpers: load, resize, grid, contact sheet, parallel map.

Library code: arrays and paths in, values out; no DVC.
"""
