"""Argument checks of the adversarial objects: the perturbation norm, the linear model and its labels.

Scalar and array checks are the shared ones (:mod:`theory._validation`); only what is specific to a
linear model in a perturbation ball lives here.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from theory._validation import check_array, check_real


def check_q(q) -> float:
    """The norm index as ``1.0``, ``2.0`` or ``inf``; ``"inf"`` is accepted for ``inf``."""
    if isinstance(q, str) and q.lower() in ("inf", "infinity"):
        return math.inf
    if isinstance(q, bool) or not isinstance(q, numbers.Real | np.integer | np.floating):
        raise ValueError(f"q must be one of 1, 2, inf (the l_q perturbation norm), got {q!r}")
    qf = float(q)
    if qf not in (1.0, 2.0, math.inf):
        raise ValueError(f"q must be one of 1, 2, inf (the l_q perturbation norm), got {q!r}")
    return qf


def dual(q: float) -> float:
    """The dual norm index ``q*`` (``1/q + 1/q* = 1``)."""
    return {1.0: math.inf, 2.0: 2.0, math.inf: 1.0}[q]


def check_gamma(gamma) -> float:
    return check_real("gamma", gamma, low=0.0)


def check_rho(rho) -> float:
    return check_real("rho", rho, low=0.0, low_open=True)


def check_nu(nu) -> float:
    return check_real("nu", nu, low=0.0)


def check_tau(tau) -> float:
    return check_real("tau", tau, low=0.0)


def check_W(W) -> np.ndarray:
    W = check_array("W", W)
    if W.ndim != 2 or W.shape[0] < 2 or W.shape[1] < 1:
        raise ValueError(f"W must have shape [n, d] with n >= 2 classes and d >= 1, got {W.shape}")
    return W


def check_labels(y, shape, n: int) -> np.ndarray:
    if isinstance(y, bool):
        raise TypeError("y must be integer label(s), got bool")
    arr = np.asarray(y)
    if not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"y must be integer label(s), got dtype {arr.dtype}")
    if arr.shape != tuple(shape):
        raise ValueError(f"y must have shape {tuple(shape)} (x.shape[:-1]), got {arr.shape}")
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= n):
        raise ValueError(f"y must lie in {{0, ..., {n - 1}}} (n = {n} classes)")
    return arr.astype(np.intp)


def check_linear(W, b, x, y):
    """Validate one linear model and a batch of points: returns ``W, b, x [m, d], y [m], batch_shape``."""
    W = check_W(W)
    n, d = W.shape
    b = check_array("b", b)
    if b.shape != (n,):
        raise ValueError(f"b must have shape ({n},) (one bias per class of W), got {b.shape}")
    x = check_array("x", x)
    if x.ndim < 1 or x.shape[-1] != d:
        raise ValueError(f"x must have shape [..., {d}] (d = W.shape[1]), got {x.shape}")
    batch = x.shape[:-1]
    y = check_labels(y, batch, n)
    return W, b, x.reshape(-1, d), y.reshape(-1), batch
