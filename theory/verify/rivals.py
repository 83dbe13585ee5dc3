"""Standard rivals: the nearby wrong predictions a referee raises first (see :class:`~theory.verify.Rival`).

Named rivals (the off-by-one formula, the missing factor, the neighbouring rate) are written next to
their claim; these builders cover the generic ones, so every topic spells them the same way:

- :func:`scaled`: the prediction off by a factor (``agrees``: x1.2 and x0.8);
- :func:`slopes_around`: the rate off by +-0.25 in the exponent (``rate``);
- :func:`halved`: a bound halved, measured from its trivial value (``holds``), which only a run that
  comes within a factor 2 of the bound can reject.

A rival built from the prediction does not compute it again: while the runner judges a claim, :func:`predicted`
returns the prediction it already made for the same config (a closed form that inverts a function numerically
is then solved once per claim, not once per rival).
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from theory.verify.claim import Rival

__all__ = ["scaled", "off_by_20_percent", "slopes_around", "halved", "predicted"]

Predict = Callable[[Mapping[str, Any]], Any]

#: ``{(predict, id(config)): (config, prediction)}`` while the runner judges one claim (None otherwise); the
#: config is kept so that its ``id`` cannot be reused while the memo lives.
_PREDICTIONS: contextvars.ContextVar[dict | None] = contextvars.ContextVar("theory_predictions", default=None)


@contextlib.contextmanager
def reusing_predictions():
    """Within the block, :func:`predicted` computes each ``predict(config)`` once (the runner wraps the judging
    of one claim: its prediction and its rivals, which all see the same config object)."""
    token = _PREDICTIONS.set({})
    try:
        yield
    finally:
        _PREDICTIONS.reset(token)


def predicted(predict: Predict, config: Mapping[str, Any]) -> np.ndarray:
    """``predict(config)`` as a read-only float64 array, computed once per claim judgement.

    While the runner judges a claim, calls with the same function and the same config object return the array
    of the first call; outside it, every call computes afresh. Rivals derived from a prediction (:func:`scaled`,
    :func:`halved`, or a claim's own ``lambda cfg: f(predicted(predict, cfg))``) use it, so an expensive
    prediction is not recomputed per rival. Read-only, so that no rival can change what the others see.
    """
    memo = _PREDICTIONS.get()
    if memo is None:
        return np.asarray(predict(config), np.float64)
    key = (predict, id(config))
    if key not in memo:
        out = np.array(predict(config), np.float64)
        out.flags.writeable = False
        memo[key] = (config, out)
    return memo[key][1]


def scaled(predict: Predict, factor: float, *, trivial: float = 0.0, why: str = "", compare=None) -> Rival:
    """The prediction scaled by ``factor`` about ``trivial``: ``trivial + factor (p - trivial)``."""
    def rival(cfg):
        return trivial + factor * (predicted(predict, cfg) - trivial)

    return Rival(f"x{factor:g}", rival, why or f"the prediction off by a factor {factor:g} (a wrong constant)",
                 compare)


def off_by_20_percent(predict: Predict, *, why: str = "") -> tuple[Rival, Rival]:
    """The prediction 20% too high and 20% too low (the default rivals of an ``agrees`` claim)."""
    return (scaled(predict, 1.2, why=why or "the prediction 20% too high (a wrong constant)"),
            scaled(predict, 0.8, why=why or "the prediction 20% too low (a wrong constant)"))


def slopes_around(slope: float, delta: float = 0.25, *, compare=None) -> tuple[Rival, Rival]:
    """The rates ``slope - delta`` and ``slope + delta`` (the default rivals of a ``rate`` claim)."""
    return tuple(Rival(f"slope {slope + s:+.3g}", lambda cfg, v=slope + s: v,
                       f"a neighbouring rate {s:+g} away in the exponent", compare) for s in (-delta, delta))


def halved(predict: Predict, *, trivial: float = 0.0, why: str = "", compare=None) -> Rival:
    """The bound halved, measured from its trivial value: ``trivial + (B - trivial) / 2``.

    Rejecting it needs a measured value beyond the halved bound somewhere, so a run that checks the
    bound only where it is loose cannot.
    """
    def rival(cfg):
        return trivial + 0.5 * (predicted(predict, cfg) - trivial)

    return Rival("bound/2", rival, why or "the bound twice as tight: a run that never comes within a factor 2 of "
                 "the bound cannot tell the theorem from it", compare)
