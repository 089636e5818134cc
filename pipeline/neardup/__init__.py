"""Near-duplicate method: perceptual hashes, the colour test, the Hamming search and the rule that calls two images one artwork.

Library code: arrays in, values out; no DVC.
"""
