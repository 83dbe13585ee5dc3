"""Measurements, verdicts and the three comparisons: ``agrees``, ``holds`` and ``rate``.

A comparison is a frozen object with a ``kind`` and a call ``compare(prediction, measurement) ->
Verdict``. Its tolerance is either statistical (``k_se`` standard errors of the measurement) or a
stated finite-size/numerical allowance with the reason written next to it; nothing else.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
from scipy import stats

__all__ = [
    "Measurement",
    "Verdict",
    "Agrees",
    "Holds",
    "Rate",
    "agrees",
    "holds",
    "rate",
]


def _array(x) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


@dataclasses.dataclass(frozen=True)
class Measurement:
    """An empirical (or numerically exact) measurement of the quantity a claim predicts.

    Attributes:
        estimate: the point estimate (a float or an array; arrays are compared elementwise).
        stderr: its standard error (same shape, or a scalar); 0 for exact numerical measurements.
        replicates: the number of independent replicates behind ``estimate``.
        values: the raw replicate values (leading axis = replicate) or raw samples, if kept.
        inputs: per-sample covariates the prediction is evaluated at (for instance the surrogate
            regrets whose bound is checked); the runner passes them to ``predict`` with the config.
        note: free text shown in reports (what was measured, how).
    """

    estimate: Any
    stderr: Any = 0.0
    replicates: int = 1
    values: Any = None
    inputs: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    note: str = ""

    @classmethod
    def from_replicates(cls, values, *, inputs=None, note: str = "") -> Measurement:
        """Mean and standard error over the leading (replicate) axis of ``values``."""
        v = _array(values)
        r = v.shape[0]
        se = v.std(axis=0, ddof=1) / math.sqrt(r) if r > 1 else np.zeros_like(v[0])
        return cls(v.mean(axis=0), se, r, v, dict(inputs or {}), note)

    @classmethod
    def exact(cls, value, *, inputs=None, note: str = "") -> Measurement:
        """A deterministic numerical measurement (standard error 0)."""
        return cls(_array(value), 0.0, 1, None, dict(inputs or {}), note)

    def confidence_interval(self, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
        """Student-t interval ``estimate +- t_{level, R-1} * stderr`` (the point itself when exact)."""
        if not 0.0 < level < 1.0:
            raise ValueError(f"level must lie in (0, 1), got {level}")
        est, se = _array(self.estimate), _array(self.stderr)
        q = stats.t.ppf(0.5 + level / 2, self.replicates - 1) if self.replicates > 1 else 0.0
        return est - q * se, est + q * se


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The outcome of comparing one claim's prediction with its measurement.

    ``prediction``/``estimate``/``ci_*`` are reported at the worst compared element; ``margin`` is
    the tolerance used there and ``worst`` the signed quantity that decided the verdict (for
    ``agrees`` the ratio ``|error| / margin``, for ``holds`` the smallest slack, for ``rate`` the
    fitted slope's distance to the prediction). ``reason`` says why the margin is what it is.
    """

    claim_id: str
    kind: str
    passed: bool
    prediction: float
    estimate: float
    ci_low: float
    ci_high: float
    margin: float
    worst: float
    n_compared: int
    replicates: int
    reason: str
    topic: str = ""
    reference: str = ""
    statement: str = ""
    seconds_compile: float = 0.0
    seconds_run: float = 0.0
    error: str | None = None

    def to_dict(self) -> dict:
        def clean(v):
            if isinstance(v, float) and not math.isfinite(v):
                return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
            return v

        return {k: clean(v) for k, v in dataclasses.asdict(self).items()}


def _finite_all(*arrays) -> bool:
    return all(np.all(np.isfinite(a)) for a in arrays)


@dataclasses.dataclass(frozen=True)
class Agrees:
    """``|estimate - prediction| <= k_se * stderr + atol + rtol * |prediction|``, elementwise.

    ``atol``/``rtol`` are the stated allowance (finite size, quadrature, optimiser tolerance);
    ``reason`` must say where it comes from.
    """

    k_se: float = 4.0
    atol: float = 0.0
    rtol: float = 0.0
    reason: str = "k standard errors of the replicate mean"
    kind: ClassVar[str] = "agrees"

    def __call__(self, prediction, measurement: Measurement) -> Verdict:
        pred = _array(prediction)
        est = _array(measurement.estimate)
        pred, est = np.broadcast_arrays(pred, est)
        se = np.broadcast_to(_array(measurement.stderr), est.shape)
        margin = self.k_se * se + self.atol + self.rtol * np.abs(pred)
        err = np.abs(est - pred)
        ok = _finite_all(pred, est) and bool(np.all(err <= margin))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(margin > 0, err / margin, np.where(err > 0, np.inf, 0.0))
        i = int(np.nanargmax(np.where(np.isfinite(ratio), ratio, np.inf).ravel())) if ratio.size else 0
        lo, hi = measurement.confidence_interval()
        lo, hi = np.broadcast_to(lo, est.shape).ravel(), np.broadcast_to(hi, est.shape).ravel()
        return Verdict(
            claim_id="",
            kind=self.kind,
            passed=ok,
            prediction=float(pred.ravel()[i]),
            estimate=float(est.ravel()[i]),
            ci_low=float(lo[i]),
            ci_high=float(hi[i]),
            margin=float(margin.ravel()[i]),
            worst=float(ratio.ravel()[i]),
            n_compared=int(est.size),
            replicates=measurement.replicates,
            reason=f"|err| <= {self.k_se:g} SE + {self.atol:g} + {self.rtol:g}|pred|: {self.reason}",
        )


@dataclasses.dataclass(frozen=True)
class Holds:
    """An inequality on every sample: ``measured <= predicted`` (``relation="<="``) or ``>=``.

    The slack is ``predicted - measured`` (or its negative for ``>=``); the verdict passes when
    the worst slack is ``>= -(atol + rtol * |predicted|)``, the stated round-off allowance.
    """

    relation: str = "<="
    atol: float = 0.0
    rtol: float = 0.0
    reason: str = "exact inequality, float64 round-off allowance"
    kind: ClassVar[str] = "holds"

    def __post_init__(self):
        if self.relation not in ("<=", ">="):
            raise ValueError(f"relation must be '<=' or '>=', got {self.relation!r}")

    def __call__(self, prediction, measurement: Measurement) -> Verdict:
        pred = _array(prediction)
        est = _array(measurement.estimate)
        pred, est = np.broadcast_arrays(pred, est)
        slack = pred - est if self.relation == "<=" else est - pred
        tol = self.atol + self.rtol * np.abs(pred)
        ok = _finite_all(pred, est) and bool(np.all(slack + tol >= 0))
        score = np.where(np.isfinite(slack), slack + tol, -np.inf)
        i = int(np.argmin(score.ravel())) if score.size else 0
        return Verdict(
            claim_id="",
            kind=self.kind,
            passed=ok,
            prediction=float(pred.ravel()[i]),
            estimate=float(est.ravel()[i]),
            ci_low=float(est.ravel()[i]),
            ci_high=float(est.ravel()[i]),
            margin=float(np.broadcast_to(tol, slack.shape).ravel()[i]),
            worst=float(slack.ravel()[i]),
            n_compared=int(est.size),
            replicates=measurement.replicates,
            reason=f"measured {self.relation} predicted on all {est.size} samples (tol {self.atol:g} + "
            f"{self.rtol:g}|pred|): {self.reason}",
        )


@dataclasses.dataclass(frozen=True)
class Rate:
    """A log-log slope: fit ``log(estimate) = a + slope * log(inputs[x])`` and compare the slope.

    Passes when ``|slope_hat - slope_pred| <= k_se * se(slope_hat) + margin``. The standard error
    comes from the per-point standard errors (delta method, weighted least squares) when the
    measurement has them, and from the regression residuals otherwise; ``margin`` is the stated
    band (pre-asymptotic curvature, etc.).
    """

    margin: float
    x: str = "n"
    k_se: float = 4.0
    reason: str = "stated band around the asymptotic slope"
    kind: ClassVar[str] = "rate"

    def __call__(self, prediction, measurement: Measurement) -> Verdict:
        if self.x not in measurement.inputs:
            raise ValueError(f"rate comparison needs measurement.inputs[{self.x!r}] (the abscissae)")
        xs = _array(measurement.inputs[self.x]).ravel()
        ys = _array(measurement.estimate).ravel()
        se = np.broadcast_to(_array(measurement.stderr), _array(measurement.estimate).shape).ravel()
        slope_pred = float(_array(prediction).ravel()[0])
        valid = len(xs) >= 2 and np.all(xs > 0) and np.all(ys > 0) and _finite_all(xs, ys)
        if not valid:
            return Verdict("", self.kind, False, slope_pred, math.nan, math.nan, math.nan, self.margin,
                           math.inf, len(ys), measurement.replicates, "rate needs >= 2 positive finite points")
        lx, ly = np.log(xs), np.log(ys)
        design = np.stack([np.ones_like(lx), lx], axis=1)
        if np.all(se > 0):
            w = (ys / se) ** 2  # 1 / var(log y) by the delta method
            cov = np.linalg.inv(design.T @ (design * w[:, None]))
            coef = cov @ (design.T @ (w * ly))
            slope_se = math.sqrt(cov[1, 1])
        else:
            coef, *_ = np.linalg.lstsq(design, ly, rcond=None)
            dof = len(lx) - 2
            resid = ly - design @ coef
            s2 = float(resid @ resid) / dof if dof > 0 else 0.0
            slope_se = math.sqrt(s2 * np.linalg.inv(design.T @ design)[1, 1])
        slope = float(coef[1])
        dist = abs(slope - slope_pred)
        tol = self.k_se * slope_se + self.margin
        q = stats.norm.ppf(0.975)
        return Verdict(
            claim_id="",
            kind=self.kind,
            passed=bool(dist <= tol),
            prediction=slope_pred,
            estimate=slope,
            ci_low=slope - q * slope_se,
            ci_high=slope + q * slope_se,
            margin=tol,
            worst=dist,
            n_compared=len(ys),
            replicates=measurement.replicates,
            reason=f"|slope - pred| <= {self.k_se:g} SE(slope) + {self.margin:g}: {self.reason}",
        )


def agrees(k_se: float = 4.0, *, atol: float = 0.0, rtol: float = 0.0, reason: str = "") -> Agrees:
    """Agreement within ``k_se`` standard errors plus a stated allowance (see :class:`Agrees`)."""
    return Agrees(k_se, atol, rtol, reason or Agrees.reason)


def holds(relation: str = "<=", *, atol: float = 0.0, rtol: float = 0.0, reason: str = "") -> Holds:
    """An inequality checked on every sample, worst slack reported (see :class:`Holds`)."""
    return Holds(relation, atol, rtol, reason or Holds.reason)


def rate(margin: float, *, x: str = "n", k_se: float = 4.0, reason: str = "") -> Rate:
    """A log-log slope within ``k_se`` SE plus ``margin`` of the prediction (see :class:`Rate`)."""
    return Rate(margin, x, k_se, reason or Rate.reason)
