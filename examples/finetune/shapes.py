"""Shapes drawn as 28x28 grayscale images, for the browser fine-tuning demo (web/): the page draws them with the
canvas 2D API (web/demo.mjs ``drawShape``); this module draws the same geometry with numpy (4x4 supersampling, as
the canvas anti-aliases) to train the backbone (make_shapes_backbone.py) and to check the demo in Python.

A shape: class (0 circle, 1 square, 2 triangle, 3 cross), centre (cx, cy) in [9, 19] pixels, size r in [6, 10],
rotation in [0, 2 pi). White (1.0) on black (0.0)."""
from __future__ import annotations

import numpy as np

NAMES = ("circle", "square", "triangle", "cross")
SIZE = 28


def random_params(rng, n, classes=(0, 1, 2, 3)):
    """n shapes: [(class, cx, cy, r, angle)], the classes in turn."""
    out = []
    for k in range(n):
        out.append((classes[k % len(classes)], rng.uniform(9, 19), rng.uniform(9, 19), rng.uniform(6, 10),
                    rng.uniform(0, 2 * np.pi)))
    return out


def inside(kind, u, v, r):
    """Points (u, v) relative to the centre, in the shape's rotated frame."""
    if kind == 0:
        return u * u + v * v <= (0.9 * r) ** 2
    if kind == 1:
        return (np.abs(u) <= 0.75 * r) & (np.abs(v) <= 0.75 * r)
    if kind == 2:  # equilateral, circumradius r, a vertex at angle 0: inside the three edges' half-planes
        ok = np.ones_like(u, bool)
        for k in range(3):
            a = 2 * np.pi * k / 3 + np.pi / 3  # the outward normal of the edge opposite vertex k
            ok &= u * np.cos(a) + v * np.sin(a) <= r / 2
        return ok
    w = 0.22 * r
    return ((np.abs(u) <= r) & (np.abs(v) <= w)) | ((np.abs(v) <= r) & (np.abs(u) <= w))


def draw(kind, cx, cy, r, angle, ss=4):
    """One image [28, 28] float32."""
    t = (np.arange(SIZE * ss) + 0.5) / ss
    yy, xx = np.meshgrid(t, t, indexing="ij")
    dx, dy = xx - cx, yy - cy
    c, s = np.cos(angle), np.sin(angle)
    u, v = c * dx + s * dy, -s * dx + c * dy  # rotate by -angle: the canvas rotates the shape by +angle
    m = inside(kind, u, v, r).astype(np.float32)
    return m.reshape(SIZE, ss, SIZE, ss).mean(axis=(1, 3))


def dataset(classes, n, seed):
    """(images [n, 1, 28, 28] float32, labels [n] int64)."""
    params = random_params(np.random.default_rng(seed), n, classes)
    x = np.stack([draw(*p) for p in params])[:, None].astype(np.float32)
    return x, np.array([p[0] for p in params], np.int64)
