"""Reverse-mode autodiff on the graph IR (``docs/training.md``): ``gradients`` appends the backward ops of a loss
with respect to chosen values; the result is ordinary IR, lowered, fused and planned like any model."""
from .reverse import gradients, grad_function  # noqa: F401
