"""The print upscaler: a compact x4 super-resolution net, its degradations, training, tiled inference and quality."""
