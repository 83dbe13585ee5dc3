"""A plain NumPy float64 transcription of the authors' generator (an independent oracle for the tests and the
claims), with the planted errors a verifier must reject. Not part of the public API of ``theory.ensloss``.

References:
    The authors' code, ``statmlben/ensLoss``, ``losses.py::ensLoss.forward`` (commit ``051d87d``); docs/ensloss.md,
    "Findings" (the planted errors).
"""

from __future__ import annotations

import numpy as np

__all__ = ["numpy_bc_inv", "numpy_ensloss_derivatives"]


def numpy_bc_inv(e, lam):
    """``BC^{-1}(e; lam)`` as the authors write it: ``exp(e)`` at 0, else ``max(1 + lam e, 0) ** (1 / lam)``."""
    e = np.asarray(e, np.float64)
    if lam == 0.0:
        return np.exp(e)
    with np.errstate(divide="ignore"):
        return np.maximum(1.0 + lam * e, 0.0) ** (1.0 / lam)


def numpy_ensloss_derivatives(z, normals, *, box_cox=0.0, clip=-1.0, tail_threshold=1.0, eps=1e-6,
                              assign="rank", tail="divide", sign=-1.0, magnitudes="normal"):
    """The generator row by row along the last axis, in the authors' order (sort, clip, assign, tail, shift).

    The keywords other than the hyperparameters plant the errors of docs/ensloss.md, "Findings":
    ``assign="reversed"`` (the most negative derivative to the largest margin), ``assign="draw"`` (sorted
    derivatives left in batch order, no rank assignment), ``tail="multiply"`` (the tail multiplies by z),
    ``sign=+1`` (no minus sign), ``magnitudes="half_normal"`` (|N(0, 1)| draws).
    """
    z = np.asarray(z, np.float64)
    e = np.asarray(normals, np.float64)
    if magnitudes == "half_normal":
        e = np.abs(e)
    v = sign * numpy_bc_inv(e, box_cox)
    v = np.sort(v, axis=-1)
    v = np.maximum(v, clip) if sign < 0 else v
    order = np.argsort(z, axis=-1, kind="stable")
    if assign == "reversed":
        order = order[..., ::-1]
    elif assign == "draw":
        order = np.broadcast_to(np.arange(z.shape[-1]), z.shape)
    g = np.empty_like(v)
    np.put_along_axis(g, order, v, axis=-1)
    factor = np.maximum(z / tail_threshold, 1.0)
    g = g * factor if tail == "multiply" else g / factor
    return g - eps
