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
from scipy import special

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
        q = special.stdtrit(self.replicates - 1, 0.5 + level / 2) if self.replicates > 1 else 0.0
        return est - q * se, est + q * se


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The outcome of comparing one claim's prediction with its measurement.

    ``prediction``/``estimate``/``ci_*`` are reported at the worst compared element and ``margin`` is
    the tolerance used there. ``worst`` has one meaning for every kind: the normalised distance to the
    decision boundary at the worst element, where ``worst <= 1`` passes (see :func:`normalised_excess`):

    - ``agrees``: ``|estimate - prediction| / margin``;
    - ``holds``: ``1 + (excess over the bound - tol) / scale``, where the excess is ``measured -
      predicted`` for ``<=`` (``predicted - measured`` for ``>=``) and ``scale`` is the tolerance, or
      ``max(|predicted|, |measured|)`` for an exact inequality (tolerance 0);
    - ``rate``: ``|slope - predicted slope| / (k_se SE + margin)`` (one-sided for a slope bound).

    ``reason`` says what was compared, why the margin is what it is and, for a failure, which element
    failed and by how much.

    ``passed`` is whether the claim's own prediction was accepted. ``status`` adds the rivals: ``"PASS"``
    (accepted, every rival rejected), ``"FAIL"`` (rejected) or ``"INCONCLUSIVE"`` (accepted, but some
    rival was accepted too); ``rivals`` lists ``{name, passed, worst, why}`` for each rival.
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
    status: str = ""
    rivals: list = dataclasses.field(default_factory=list)

    @property
    def nearest_rival(self) -> dict | None:
        """The rival the run came closest to accepting: among the accepted rivals (if any) the one with the
        smallest ``worst``, else the rejected rival with the smallest ``worst``; ``None`` without rivals."""
        if not self.rivals:
            return None
        pool = [r for r in self.rivals if r["passed"] is not False] or self.rivals
        return min(pool, key=lambda r: math.inf if r["worst"] is None else r["worst"])

    def to_dict(self) -> dict:
        """A JSON-ready dict (non-finite floats as ``"inf"``/``"-inf"``/``None``)."""
        def clean(v):
            if isinstance(v, float) and not math.isfinite(v):
                return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
            if isinstance(v, dict):
                return {k: clean(x) for k, x in v.items()}
            if isinstance(v, list):
                return [clean(x) for x in v]
            return v

        return {k: clean(v) for k, v in dataclasses.asdict(self).items()}


def _finite_all(*arrays) -> bool:
    return all(np.all(np.isfinite(a)) for a in arrays)


def _where(i: int, shape: tuple, labels=None) -> str:
    """Names element ``i`` of an array of ``shape`` (by its label when the measurement has labels)."""
    if labels is not None and len(labels) == int(np.prod(shape, dtype=int)):
        return f"element {i} ({labels[i]})"
    if len(shape) <= 1:
        return f"element {i}" if shape and shape[0] > 1 else "the value"
    return f"element {np.unravel_index(i, shape)}"


def _labels(measurement: Measurement):
    labels = measurement.inputs.get("labels") if isinstance(measurement.inputs, Mapping) else None
    return list(labels) if isinstance(labels, list | tuple | np.ndarray) else None


def _stderr(measurement: Measurement, shape) -> np.ndarray:
    return np.broadcast_to(_array(measurement.stderr), shape)


def _elementwise_verdict(kind: str, passed: bool, i: int, pred, est, margin, worst, measurement: Measurement,
                         reason: str) -> Verdict:
    """The verdict of an elementwise comparison, reported at element ``i`` (with its 95% interval)."""
    lo, hi = measurement.confidence_interval()
    lo, hi = np.broadcast_to(lo, est.shape).ravel(), np.broadcast_to(hi, est.shape).ravel()
    return Verdict(claim_id="", kind=kind, passed=passed, prediction=float(pred.ravel()[i]),
                   estimate=float(est.ravel()[i]), ci_low=float(lo[i]), ci_high=float(hi[i]),
                   margin=float(margin.ravel()[i]), worst=float(worst.ravel()[i]), n_compared=int(est.size),
                   replicates=measurement.replicates, reason=reason)


@dataclasses.dataclass(frozen=True)
class Agrees:
    """``|estimate - prediction| <= k_se * stderr + atol + rtol * |prediction|``, elementwise.

    ``atol``/``rtol`` are the stated allowance (finite size, quadrature, optimiser tolerance);
    ``reason`` must say where it comes from. ``worst`` is ``|error| / margin`` at the worst element.
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
        se = _stderr(measurement, est.shape)
        margin = self.k_se * se + self.atol + self.rtol * np.abs(pred)
        err = np.abs(est - pred)
        ok = _finite_all(pred, est) and bool(np.all(err <= margin))
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(margin > 0, err / margin, np.where(err > 0, np.inf, 0.0))
        ratio = np.where(np.isnan(ratio), np.inf, ratio)
        i = int(np.argmax(ratio.ravel())) if ratio.size else 0
        rule = f"|err| <= {self.k_se:g} SE + {self.atol:g} + {self.rtol:g}|pred|: {self.reason}"
        if not ok:
            p_i, e_i, m_i = float(pred.ravel()[i]), float(est.ravel()[i]), float(margin.ravel()[i])
            n_bad = int(np.sum(~(err <= margin)))
            where = _where(i, est.shape, _labels(measurement))
            rule = (f"{n_bad} of {est.size} elements outside the margin; worst {where}: measured {e_i:.6g} vs "
                    f"predicted {p_i:.6g}, |err| {abs(e_i - p_i):.3g} > margin {m_i:.3g} "
                    f"({float(ratio.ravel()[i]):.3g} x). Rule: " + rule)
        return _elementwise_verdict(self.kind, ok, i, pred, est, margin, ratio, measurement, rule)


@dataclasses.dataclass(frozen=True)
class Holds:
    """An inequality on every sample: ``measured <= predicted`` (``relation="<="``) or ``>=``.

    The slack is ``predicted - measured`` (or its negative for ``>=``); the verdict passes when every
    slack is ``>= -tol`` with ``tol = k_se * stderr + atol + rtol * |predicted|``. ``k_se`` (default 0,
    which keeps an exact inequality exact) is for inequalities whose measured side is a simulation
    estimate with a standard error; ``atol``/``rtol`` are the stated round-off or finite-size allowance.
    Non-inferiority and directional claims put their margin delta into the prediction (``A - B >=
    -delta``) and say why delta is what it is in ``reason``.

    ``worst`` is ``1 + (-slack - tol) / scale`` at the worst element, ``scale`` being ``tol`` when it is
    positive and ``max(|predicted|, |measured|)`` (or 1) for an exact inequality: ``<= 1`` passes.
    """

    relation: str = "<="
    atol: float = 0.0
    rtol: float = 0.0
    reason: str = "exact inequality, float64 round-off allowance"
    k_se: float = 0.0
    kind: ClassVar[str] = "holds"

    def __post_init__(self):
        if self.relation not in ("<=", ">="):
            raise ValueError(f"relation must be '<=' or '>=', got {self.relation!r}")
        if not self.k_se >= 0:
            raise ValueError(f"k_se must be >= 0, got {self.k_se!r}")

    def __call__(self, prediction, measurement: Measurement) -> Verdict:
        pred = _array(prediction)
        est = _array(measurement.estimate)
        pred, est = np.broadcast_arrays(pred, est)
        se = _stderr(measurement, est.shape)
        slack = pred - est if self.relation == "<=" else est - pred
        tol = np.broadcast_to(self.k_se * se + self.atol + self.rtol * np.abs(pred), est.shape)
        ok = _finite_all(pred, est) and bool(np.all(slack + tol >= 0))
        scale = np.where(tol > 0, tol, np.maximum(np.maximum(np.abs(pred), np.abs(est)), 1e-300))
        with np.errstate(invalid="ignore", over="ignore"):
            norm = 1.0 + (-slack - tol) / scale
        norm = np.where(np.isfinite(norm), norm, np.inf)
        i = int(np.argmax(norm.ravel())) if norm.size else 0
        rule = (f"measured {self.relation} predicted on all {est.size} samples (tol {self.k_se:g} SE + {self.atol:g} "
                f"+ {self.rtol:g}|pred|): {self.reason}")
        if not ok:
            n_bad = int(np.sum(~(slack + tol >= 0)))
            rule = (f"{n_bad} of {est.size} samples violate it; worst {_where(i, est.shape, _labels(measurement))}: "
                    f"measured {float(est.ravel()[i]):.6g} vs bound {float(pred.ravel()[i]):.6g}, beyond it by "
                    f"{float(-slack.ravel()[i]):.3g} (tolerance {float(tol.ravel()[i]):.3g}). Rule: " + rule)
        return _elementwise_verdict(self.kind, ok, i, pred, est, tol, norm, measurement, rule)


@dataclasses.dataclass(frozen=True)
class Rate:
    """A log-log slope: fit ``log(estimate) = a + slope * log(inputs[x])`` and compare the slope.

    With ``relation="=="`` (attained rate) it passes when ``|slope_hat - slope_pred| <= k_se *
    se(slope_hat) + margin``; with ``"<="`` (the theorem states the rate only as an upper bound on the
    error, so the slope is at most the prediction) when ``slope_hat - slope_pred <= k_se * se + margin``,
    and symmetrically for ``">="``. The standard error comes from the per-point standard errors (delta
    method, weighted least squares) when the measurement has them, and from the regression residuals
    otherwise; ``margin`` is the stated band (pre-asymptotic curvature, etc.). ``worst`` is the
    distance (one-sided for a bound) over ``k_se * se + margin``.
    """

    margin: float
    x: str = "n"
    k_se: float = 4.0
    reason: str = "stated band around the asymptotic slope"
    relation: str = "=="
    kind: ClassVar[str] = "rate"

    def __post_init__(self):
        if self.relation not in ("==", "<=", ">="):
            raise ValueError(f"relation must be '==', '<=' or '>=', got {self.relation!r}")

    def fit(self, measurement: Measurement) -> tuple[float, float]:
        """``(slope, standard error)`` of the weighted log-log fit (``nan`` when it is not defined)."""
        if self.x not in measurement.inputs:
            raise ValueError(f"rate comparison needs measurement.inputs[{self.x!r}] (the abscissae)")
        xs = _array(measurement.inputs[self.x]).ravel()
        ys = _array(measurement.estimate).ravel()
        se = _stderr(measurement, _array(measurement.estimate).shape).ravel()
        if not (len(xs) >= 2 and np.all(xs > 0) and np.all(ys > 0) and _finite_all(xs, ys)):
            return math.nan, math.nan
        lx, ly = np.log(xs), np.log(ys)
        design = np.stack([np.ones_like(lx), lx], axis=1)
        if np.all(se > 0):
            w = (ys / se) ** 2  # 1 / var(log y) by the delta method
            cov = np.linalg.inv(design.T @ (design * w[:, None]))
            coef = cov @ (design.T @ (w * ly))
            return float(coef[1]), math.sqrt(cov[1, 1])
        coef, *_ = np.linalg.lstsq(design, ly, rcond=None)
        dof = len(lx) - 2
        resid = ly - design @ coef
        s2 = float(resid @ resid) / dof if dof > 0 else 0.0
        return float(coef[1]), math.sqrt(s2 * np.linalg.inv(design.T @ design)[1, 1])

    def __call__(self, prediction, measurement: Measurement) -> Verdict:
        slope_pred = float(_array(prediction).ravel()[0])
        slope, slope_se = self.fit(measurement)
        n = int(np.size(measurement.estimate))
        if math.isnan(slope):
            return Verdict("", self.kind, False, slope_pred, math.nan, math.nan, math.nan, self.margin,
                           math.inf, n, measurement.replicates, "rate needs >= 2 positive finite points")
        signed = {"==": abs(slope - slope_pred), "<=": slope - slope_pred, ">=": slope_pred - slope}[self.relation]
        tol = self.k_se * slope_se + self.margin
        passed = bool(signed <= tol)
        worst = signed / tol if tol > 0 else (math.inf if signed > 0 else (0.0 if signed == 0 else -math.inf))
        q = special.ndtri(0.975)
        what = {"==": "|slope - pred|", "<=": "slope - pred", ">=": "pred - slope"}[self.relation]
        rule = f"{what} <= {self.k_se:g} SE(slope) + {self.margin:g}: {self.reason}"
        if not passed:
            rule = (f"fitted slope {slope:.4g} (SE {slope_se:.3g}) vs predicted {slope_pred:.4g}: "
                    f"{what} = {signed:.3g} > {tol:.3g}. Rule: " + rule)
        return Verdict(
            claim_id="",
            kind=self.kind,
            passed=passed,
            prediction=slope_pred,
            estimate=slope,
            ci_low=slope - q * slope_se,
            ci_high=slope + q * slope_se,
            margin=tol,
            worst=float(worst),
            n_compared=n,
            replicates=measurement.replicates,
            reason=rule,
        )


def agrees(k_se: float = 4.0, *, atol: float = 0.0, rtol: float = 0.0, reason: str = "") -> Agrees:
    """Agreement within ``k_se`` standard errors plus a stated allowance (see :class:`Agrees`)."""
    return Agrees(k_se, atol, rtol, reason or Agrees.reason)


def holds(relation: str = "<=", *, k_se: float = 0.0, atol: float = 0.0, rtol: float = 0.0, reason: str = "") -> Holds:
    """An inequality checked on every sample, worst slack reported (see :class:`Holds`)."""
    return Holds(relation, atol, rtol, reason or Holds.reason, k_se)


def rate(margin: float, *, x: str = "n", k_se: float = 4.0, relation: str = "==", reason: str = "") -> Rate:
    """A log-log slope within ``k_se`` SE plus ``margin`` of the prediction, or a one-sided slope bound with
    ``relation="<="``/``">="`` (see :class:`Rate`)."""
    return Rate(margin, x, k_se, reason or Rate.reason, relation)
