"""wallgan: a DVC pipeline that scrapes abstract paintings and trains a progressive GAN on them.

Stage entry points are the top-level modules (``python -m pipeline.<stage>``); the library lives in
``images``, ``gan``, ``metrics`` and ``sources``.
"""
