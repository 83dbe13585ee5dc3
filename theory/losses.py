r"""The loss registry: every loss the library ships, with its declared properties (the multi-class losses, and
the binary margin losses as two-class losses).

Each loss is a :class:`LossEntry`: its name, the per-example function
``fn(logits, labels, **hyper)`` (optax style: ``logits [..., num_classes]``, integer ``labels [...]``,
returns ``[...]``; hyperparameters keyword-only), its family, its hyperparameters (allowed range and
the default the tests use) and its documented properties:

- ``shift_invariant``: ``fn(logits + c) == fn(logits)`` for every constant ``c``;
- ``value_range``: ``(low, high)`` bounds on the values, a function of ``num_classes`` and the
  hyperparameters;
- ``convex_in_logits``: where (in hyperparameter space) the loss is convex in the logits;
- ``calibrated``: where it is classification-calibrated: every minimiser of the conditional risk
  :math:`\sum_y q_y\,\ell(h, y)` (or every limit of a minimising sequence) predicts :math:`\arg\max_y q_y`;
- ``symmetric``: where :math:`\sum_y \ell(h, y)` is a constant, and the constant (the condition of
  Ghosh, Kumar, Sastry, AAAI 2017, for noise tolerance);
- ``limits``: its limits in its hyperparameters, each as another registered loss (or the zero loss),
  with a proven rate where the limit is approached rather than attained;
- ``equals``: an identity with another registered loss (``gce`` is ``comp_sum`` at ``tau = 1 + q``);
- ``num_classes``: the one number of classes the loss is defined for (``2`` for the binary margin losses,
  which see the margin :math:`z = f_y - f_{1-y}`), or ``None`` for every number :math:`\ge 2`;
- ``reference``: the paper and equation.

One parametrised test suite (``tests/test_losses.py``) checks every declared property of every entry,
plus jit/vmap/grad agreement, finite values at +-1e4 logits in float32, gradients against finite
differences in float64, and clear errors on bad input. A loss registered later gets all of it.

Public API: :func:`register`, :func:`get`, :func:`names`, :func:`entries`, and :data:`REGISTRY`
(a read-only ``name -> LossEntry`` mapping). The entries:

| name | loss | implementation |
| --- | --- | --- |
| ``comp_sum`` | :math:`\Psi_\tau(S_y)`, ``tau >= 0`` | :func:`theory.compsum.losses.comp_sum_loss` |
| ``cross_entropy`` | ``comp_sum`` at ``tau = 1`` | the same |
| ``gce`` | :math:`(1 - S_y^q)/q` (``tau = 1 + q``) | :func:`theory.ldr.baselines.generalized_cross_entropy_loss` |
| ``mae`` | :math:`1 - S_y` (``tau = 2``) | ``comp_sum_loss`` |
| ``sce`` | :math:`(1-\beta)\mathrm{CE} + 4\beta(1 - S_y)` | :func:`theory.ldr.baselines.symmetric_cross_entropy_loss` |
| ``mse`` | :math:`\lVert e_y - S\rVert^2` | :func:`theory.ldr.baselines.softmax_squared_error_loss` |
| ``ldr_kl`` | LDR-KL (``lam``, ``margin``) | :func:`theory.ldr.losses.ldr_kl_loss` |
| ``crammer_singer`` | :math:`\max_k a_k` (LDR-KL at ``lam = 0``) | :func:`theory.ldr.losses.crammer_singer_loss` |
| ``weston_watkins`` | :math:`\sum_k \max(0, a_k)` | :func:`theory.ldr.losses.weston_watkins_loss` |
| ``ldr_topk`` | LDR-KL on :math:`\{p \le 1/k\}` | :func:`theory.ldr.general.ldr_loss`, ``reg="kl"`` |
| ``topk_svm`` | mean of the k largest margins | ``ldr_loss``, ``reg="none"`` |
| ``ldr_l2`` | LDR with :math:`\frac12\lVert p - u\rVert^2` | ``ldr_loss``, ``reg="l2"`` |
| ``aldr_kl`` | ALDR-KL (``lam0``, ``alpha``, ``margin``) | :func:`theory.ldr.aldr.aldr_kl_loss` |
| ``logistic`` | :math:`\log(1 + e^{-z})`, two classes | :func:`theory.ensloss.margin_losses.two_class_margin_loss` |
| ``exponential`` | :math:`e^{-z}`, two classes | the same |
| ``hinge`` | :math:`(1 - z)_+`, two classes | the same |
| ``squared_hinge`` | :math:`(1 - z)_+^2`, two classes | the same |
| ``perceptron`` | :math:`(-z)_+`, two classes (convex, not calibrated) | the same |
| ``sigmoid`` | :math:`1/(1 + e^{z})`, two classes (calibrated, not convex) | the same |

The LDR experiments' baselines (:data:`theory.ldr.baselines.BASELINES`) call these entries.

>>> import theory.losses as losses
>>> losses.get("gce").hyperparameters["q"].interval(10)
Interval(low=0.0, high=1.0, low_open=True, high_open=False)
>>> "ldr_kl" in losses.names()
True

Input policy (every registered loss; :func:`check_loss_inputs`):

- NaN logits raise ``ValueError`` eagerly; labels must be integers in ``{0, ..., num_classes - 1}``.
- Infinite logits: a ``-inf`` logit on a class :math:`k \ne y` is a masked class (as optax's
  cross-entropy accepts it). It is accepted and the loss is its limit as :math:`f_k \to -\infty`: the
  class drops out of the softmax or of the worst case, and the gradient is finite. (A top-k loss left
  with fewer than k unmasked classes is ``-inf``, and the mean margin with a masked class is ``-inf``.)
  Any other infinite logit raises ``ValueError``: a ``+inf`` logit or a ``-inf`` target puts the example
  at infinite margin, where the values are infinite or constants whose gradients depend on the path to
  infinity, or makes :math:`f_k - f_y = \infty - \infty` undefined.
- Hyperparameters are checked eagerly (``ValueError``/``TypeError`` naming the parameter and its
  range). Under ``jit`` a traced hyperparameter cannot be checked: an invalid one makes the loss
  NaN, never a finite wrong number.

The module imports neither JAX nor the topics: each entry's function is resolved on first call, so
``import theory.losses`` is cheap.

References:
    Each entry's ``reference`` (paper and equation); each declared property states its reason in its
    text. The comp-sum and LDR derivations are in docs/compsum.md and docs/ldr.md, and the input policy
    in docs/glossary.md, "Input policy".
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import types
from collections.abc import Callable, Mapping

__all__ = [
    "Interval",
    "Hyper",
    "Where",
    "Symmetry",
    "Limit",
    "LossEntry",
    "REGISTRY",
    "register",
    "get",
    "names",
    "entries",
    "check_loss_inputs",  # noqa: F822  (resolved by __getattr__ from theory._validation)
]

INF = math.inf


# ------------------------------------------------------------------------------------------------
# Declarations
# ------------------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Interval:
    """A real interval; ``low_open``/``high_open`` exclude the end points."""

    low: float = -INF
    high: float = INF
    low_open: bool = False
    high_open: bool = False

    def __contains__(self, x) -> bool:
        x = float(x)
        if math.isnan(x):
            return False
        above = x > self.low or (x == self.low and not self.low_open)
        below = x < self.high or (x == self.high and not self.high_open)
        return above and below

    def __str__(self) -> str:
        lo = "(" if self.low_open else "["
        hi = ")" if self.high_open else "]"
        return f"{lo}{self.low:g}, {self.high:g}{hi}"


@dataclasses.dataclass(frozen=True)
class Hyper:
    """A hyperparameter: its allowed range, its default, and the range tests draw from.

    ``low``/``high``/``default`` may be functions of ``num_classes`` (as ``k <= num_classes``).
    ``typical`` is a finite sub-range of the allowed one (log-uniform when ``log``) and ``special`` lists
    values the tests always include (limits such as ``0`` or ``inf``).
    """

    low: float | Callable[[int], float] = -INF
    high: float | Callable[[int], float] = INF
    low_open: bool = False
    high_open: bool = False
    default: float | Callable[[int], float] = 0.0
    integer: bool = False
    typical: tuple[float, float] | None = None
    log: bool = False
    special: tuple[float, ...] = ()
    doc: str = ""

    def interval(self, num_classes: int) -> Interval:
        """The allowed range for ``num_classes`` classes."""
        low = self.low(num_classes) if callable(self.low) else self.low
        high = self.high(num_classes) if callable(self.high) else self.high
        return Interval(float(low), float(high), self.low_open, self.high_open)

    def default_for(self, num_classes: int):
        """The default value for ``num_classes`` classes (an ``int`` for integer hyperparameters)."""
        value = self.default(num_classes) if callable(self.default) else self.default
        return int(value) if self.integer else float(value)


@dataclasses.dataclass(frozen=True)
class Where:
    """The hyperparameters where a property holds: ``test(num_classes, **hyper) -> bool``, its statement
    ``text``, and ``examples`` (partial hyperparameter settings inside it, merged with the defaults)."""

    text: str
    test: Callable[..., bool]
    examples: tuple[Mapping, ...] = ()

    def __call__(self, num_classes: int, **hyper) -> bool:
        return bool(self.test(num_classes, **hyper))


#: The property holds for every hyperparameter value.
ALWAYS = Where("for every hyperparameter value", lambda num_classes, **hyper: True, ({},))
#: The property is not claimed (it fails somewhere, or is not established).
NEVER = Where("not claimed", lambda num_classes, **hyper: False)


def _where(value) -> Where:
    if isinstance(value, Where):
        return value
    if value is True:
        return ALWAYS
    if value is False or value is None:
        return NEVER
    raise TypeError(f"a property region must be a bool or a Where, got {type(value).__name__}")


@dataclasses.dataclass(frozen=True)
class Symmetry:
    r"""Where :math:`\sum_y \ell(h, y)` does not depend on ``h``, and its value ``constant(num_classes, **hyper)``."""

    where: Where
    constant: Callable[..., float]


@dataclasses.dataclass(frozen=True)
class Limit:
    r"""A limit in one hyperparameter: as ``param -> at`` the loss tends to ``scale`` times the registered loss
    ``to`` (``None``: the zero loss) at the hyperparameters ``hyper(**own_hyper)``.

    ``exact``: ``at`` is an allowed value and the loss equals the limit there. ``near`` (optional): a value
    of ``param`` close to ``at`` where ``|loss - limit| <= bound(logits, labels, limit_values, num_classes,
    **hyper)`` (NumPy, float64), a proven rate.
    """

    param: str
    at: float
    to: str | None
    text: str
    hyper: Callable[..., Mapping] = lambda **h: {}
    scale: float = 1.0
    exact: bool = False
    near: float | None = None
    bound: Callable[..., object] | None = None


@dataclasses.dataclass(frozen=True)
class LossEntry:
    """One registered loss and its declared properties (see the module docstring)."""

    name: str
    fn: Callable
    family: str
    summary: str
    hyperparameters: Mapping[str, Hyper]
    shift_invariant: bool
    value_range: Callable[..., tuple[float, float]]
    convex_in_logits: Where
    calibrated: Where
    reference: str
    symmetric: Symmetry | None = None
    limits: tuple[Limit, ...] = ()
    equals: tuple[str, Callable[..., Mapping]] | None = None
    constraint: Where | None = None
    num_classes: int | None = None

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"name must be an identifier, got {self.name!r}")
        if not callable(self.fn):
            raise TypeError(f"fn must be callable, got {type(self.fn).__name__}")
        object.__setattr__(self, "hyperparameters", types.MappingProxyType(dict(self.hyperparameters)))
        object.__setattr__(self, "convex_in_logits", _where(self.convex_in_logits))
        object.__setattr__(self, "calibrated", _where(self.calibrated))
        object.__setattr__(self, "limits", tuple(self.limits))
        if not callable(self.value_range):
            low, high = self.value_range
            object.__setattr__(self, "value_range", lambda num_classes, **hyper: (low, high))
        if self.num_classes is not None and (not isinstance(self.num_classes, int) or self.num_classes < 2):
            raise ValueError(f"num_classes must be None or an integer >= 2, got {self.num_classes!r}")
        for limit in self.limits:
            if limit.param not in self.hyperparameters:
                raise ValueError(f"{self.name}: limit in unknown hyperparameter {limit.param!r}")

    def defaults(self, num_classes: int) -> dict:
        """The default hyperparameters for ``num_classes`` classes."""
        return {k: h.default_for(num_classes) for k, h in self.hyperparameters.items()}


# ------------------------------------------------------------------------------------------------
# The registry
# ------------------------------------------------------------------------------------------------

_ENTRIES: dict[str, LossEntry] = {}

#: Read-only ``name -> LossEntry`` view of the registry (updated by :func:`register`).
REGISTRY: Mapping[str, LossEntry] = types.MappingProxyType(_ENTRIES)


def register(entry: LossEntry, *, replace: bool = False) -> LossEntry:
    """Add ``entry`` to the registry (``replace=True`` to overwrite an entry of the same name); returns it."""
    if not isinstance(entry, LossEntry):
        raise TypeError(f"entry must be a LossEntry, got {type(entry).__name__}")
    if entry.name in _ENTRIES and not replace:
        raise ValueError(f"a loss named {entry.name!r} is already registered (pass replace=True)")
    _ENTRIES[entry.name] = entry
    return entry


def get(name: str) -> LossEntry:
    """The entry registered as ``name``."""
    try:
        return _ENTRIES[name]
    except KeyError:
        raise ValueError(f"name must be one of {sorted(_ENTRIES)}, got {name!r}") from None


def names() -> tuple[str, ...]:
    """The registered names, in registration order."""
    return tuple(_ENTRIES)


def entries() -> tuple[LossEntry, ...]:
    """The registered entries, in registration order."""
    return tuple(_ENTRIES.values())


def __getattr__(name):  # the input check lives in the shared validation module
    if name == "check_loss_inputs":
        from theory._validation import check_loss_inputs

        return check_loss_inputs
    raise AttributeError(f"module 'theory.losses' has no attribute {name!r}")


class _Lazy:
    """``module:function`` with fixed keywords, imported on first call (keeps this module import light)."""

    def __init__(self, module: str, function: str, **fixed):
        self.module, self.function, self.fixed = module, function, fixed
        self.__name__ = function
        self.__qualname__ = function
        self._fn = None

    def resolve(self) -> Callable:
        if self._fn is None:
            self._fn = getattr(importlib.import_module(self.module), self.function)
        return self._fn

    @property
    def __doc__(self):  # noqa: D401 - the wrapped function's docstring
        return self.resolve().__doc__

    def __call__(self, logits, labels, **hyper):
        return self.resolve()(logits, labels, **self.fixed, **hyper)

    def __repr__(self) -> str:
        fixed = "".join(f", {k}={v!r}" for k, v in self.fixed.items())
        return f"<loss {self.module}.{self.function}(logits, labels{fixed}, ...)>"


# ------------------------------------------------------------------------------------------------
# Input policy and the losses implemented here (reparametrisations and small baselines)
# ------------------------------------------------------------------------------------------------


def _check_hyper(name, value, interval: Interval):
    """A concrete hyperparameter checked against ``interval``; a traced one made NaN outside it."""
    from theory._validation import check_real, is_traced, nan_unless

    if is_traced(value):
        import jax.numpy as jnp

        low_ok = value > interval.low if interval.low_open else value >= interval.low
        high_ok = value < interval.high if interval.high_open else value <= interval.high
        return nan_unless(low_ok & high_ok & ~jnp.isinf(value), value)
    return check_real(name, value, low=interval.low, high=interval.high, low_open=interval.low_open,
                      high_open=interval.high_open)


# ------------------------------------------------------------------------------------------------
# Declared properties: shared pieces
# ------------------------------------------------------------------------------------------------


def _margins(logits, labels, margin):
    """float64 NumPy margin vectors ``a_k = c (1 - delta_ky) + f_k - f_y`` (for the limit bounds)."""
    import numpy as np

    f = np.asarray(logits, np.float64)
    y = np.asarray(labels)[..., None]
    other = np.arange(f.shape[-1]) != y
    return np.where(other, margin + f - np.take_along_axis(f, y, axis=-1), 0.0)


def _spread(logits, labels, margin):
    import numpy as np

    a = _margins(logits, labels, margin)
    return np.max(a, axis=-1) - np.min(a, axis=-1)


def _centred_norm2(logits, labels, margin):
    import numpy as np

    a = _margins(logits, labels, margin)
    return np.sum((a - a.mean(axis=-1, keepdims=True)) ** 2, axis=-1)


def _w(logits, labels):
    """float64 NumPy ``-log S_y`` (for the limit bounds)."""
    import numpy as np
    from scipy import special

    f = np.asarray(logits, np.float64)
    y = np.asarray(labels)[..., None]
    return (special.logsumexp(f, axis=-1, keepdims=True) - np.take_along_axis(f, y, axis=-1))[..., 0]


def _zero_loss(logits, labels):
    import numpy as np

    return np.zeros(np.shape(labels))


_TAU = Hyper(0.0, INF, high_open=True, default=1.5, typical=(0.0, 4.0), special=(0.0, 1.0, 2.0),
             doc="the comp-sum exponent; tau = inf is rejected: the pointwise limit is the zero loss")
_LAM = Hyper(0.0, INF, default=1.0, typical=(1e-2, 1e2), log=True, special=(0.0, INF),
             doc="the KL weight lambda; 0 and inf are the Crammer-Singer and mean-margin limits")
_MARGIN = Hyper(-INF, INF, low_open=True, high_open=True, default=0.5, typical=(0.0, 2.0),
                doc="the uniform margin c (a [K, K] matrix C is accepted by the function too)")
_K = Hyper(1, lambda num_classes: num_classes, default=2, integer=True, special=(1,),
           doc="the top-k constraint p <= 1/k, 1 <= k <= num_classes")

_LDR_REF = ("Zhu, Ying, Yang, *Label Distributionally Robust Losses for Multi-class Classification: Consistency, "
            "Robustness and Adaptivity*, ICML 2023 (arXiv 2112.14869)")
_COMPSUM_REF = ("Mao, Mohri, Zhong, *Cross-Entropy Loss Functions: Theoretical Analysis and Applications*, ICML 2023 "
                "(arXiv 2304.07288), Eq. (1)-(2), the comp-sum losses; docs/compsum.md")


def _is_int(value, target) -> bool:
    return int(value) == int(target)


# ------------------------------------------------------------------------------------------------
# The entries
# ------------------------------------------------------------------------------------------------

register(LossEntry(
    name="comp_sum",
    fn=_Lazy("theory.compsum.losses", "comp_sum_loss"),
    family="comp_sum",
    summary="l^tau = Psi_tau(S_y) = (S_y^(tau-1) - 1)/(1 - tau); tau = 0 sum-exponential, 1 CE, (1, 2) GCE, 2 MAE",
    hyperparameters={"tau": _TAU},
    shift_invariant=True,
    value_range=lambda num_classes, tau: (0.0, 1.0 / (tau - 1.0) if tau > 1.0 else INF),
    convex_in_logits=Where("0 <= tau <= 1 (the Hessian S_y^(tau-1) ((1-tau) d d^T + diag S - S S^T), d = S - e_y, "
                           "is indefinite for tau > 1)", lambda num_classes, tau: tau <= 1.0,
                           ({"tau": 0.0}, {"tau": 0.5}, {"tau": 1.0})),
    calibrated=Where("every tau >= 0 (the minimiser S_y ~ q_y^(1/(2-tau)) for tau < 2, the vertex e_argmax(q) "
                     "for tau >= 2)", lambda num_classes, tau: True, ({"tau": 0.5}, {"tau": 2.0}, {"tau": 3.0})),
    symmetric=Symmetry(Where("tau = 2", lambda num_classes, tau: tau == 2.0, ({"tau": 2.0},)),
                       lambda num_classes, tau: num_classes - 1.0),
    limits=(
        Limit("tau", 1.0, "cross_entropy", "tau = 1 is softmax cross-entropy", exact=True),
        Limit("tau", 2.0, "mae", "tau = 2 is 1 - S_y", exact=True),
        Limit("tau", INF, None, "tau -> inf: 0 <= l^tau <= 1/(tau - 1), so the limit is the zero loss",
              near=1e6, bound=lambda logits, labels, limit, num_classes, tau: 1.0 / (tau - 1.0)),
    ),
    reference=_COMPSUM_REF,
))

register(LossEntry(
    name="cross_entropy",
    fn=_Lazy("theory.compsum.losses", "comp_sum_loss", tau=1.0),
    family="comp_sum",
    summary="softmax cross-entropy logsumexp(f) - f_y (comp_sum at tau = 1)",
    hyperparameters={},
    shift_invariant=True,
    value_range=(0.0, INF),
    convex_in_logits=True,
    calibrated=True,
    equals=("comp_sum", lambda: {"tau": 1.0}),
    reference=_COMPSUM_REF + "; optax.losses.softmax_cross_entropy_with_integer_labels",
))

register(LossEntry(
    name="gce",
    fn=_Lazy("theory.ldr.baselines", "generalized_cross_entropy_loss"),
    family="comp_sum",
    summary="generalized cross-entropy (1 - S_y^q)/q (comp_sum at tau = 1 + q)",
    hyperparameters={"q": Hyper(0.0, 1.0, low_open=True, default=0.7, typical=(0.01, 1.0), special=(1.0,),
                                doc="the exponent; q -> 0 is CE, q = 1 is MAE")},
    shift_invariant=True,
    value_range=lambda num_classes, q: (0.0, 1.0 / q),
    convex_in_logits=False,
    calibrated=True,
    symmetric=Symmetry(Where("q = 1", lambda num_classes, q: q == 1.0, ({"q": 1.0},)),
                       lambda num_classes, q: num_classes - 1.0),
    limits=(
        Limit("q", 0.0, "cross_entropy", "q -> 0: 0 <= CE - L_q <= q CE^2/2", near=1e-6,
              bound=lambda logits, labels, limit, num_classes, q: 0.5 * q * limit**2),
        Limit("q", 1.0, "mae", "q = 1 is 1 - S_y", exact=True),
    ),
    equals=("comp_sum", lambda q: {"tau": 1.0 + q}),
    reference="Zhang, Sabuncu, NeurIPS 2018 (arXiv 1805.07836), Sec. 3.2 (the L_q loss); " + _COMPSUM_REF,
))

register(LossEntry(
    name="mae",
    fn=_Lazy("theory.compsum.losses", "comp_sum_loss", tau=2.0),
    family="comp_sum",
    summary="mean absolute error 1 - S_y (half of ||e_y - S||_1; comp_sum at tau = 2)",
    hyperparameters={},
    shift_invariant=True,
    value_range=(0.0, 1.0),
    convex_in_logits=False,
    calibrated=True,
    symmetric=Symmetry(ALWAYS, lambda num_classes: num_classes - 1.0),
    equals=("comp_sum", lambda: {"tau": 2.0}),
    reference="Ghosh, Kumar, Sastry, *Robust Loss Functions under Label Noise for Deep Neural Networks*, AAAI 2017 "
    "(arXiv 1712.09482), Theorem 1 (symmetric losses) and the MAE; " + _COMPSUM_REF,
))

register(LossEntry(
    name="sce",
    fn=_Lazy("theory.ldr.baselines", "symmetric_cross_entropy_loss"),
    family="comp_sum",
    summary="symmetric cross-entropy (1 - beta) CE + 4 beta (1 - S_y)",
    hyperparameters={"beta": Hyper(0.0, 1.0, default=0.5, typical=(0.0, 1.0), special=(0.0, 1.0),
                                   doc="weight of the reverse cross-entropy")},
    shift_invariant=True,
    value_range=lambda num_classes, beta: (0.0, 4.0 if beta == 1.0 else INF),
    convex_in_logits=Where("beta = 0 (cross-entropy)", lambda num_classes, beta: beta == 0.0, ({"beta": 0.0},)),
    calibrated=Where("0 <= beta <= 1 (the minimiser S_y = (1-beta) q_y/(mu - 4 beta q_y) increases with q_y)",
                     lambda num_classes, beta: True, ({"beta": 0.5}, {"beta": 1.0})),
    symmetric=Symmetry(Where("beta = 1", lambda num_classes, beta: beta == 1.0, ({"beta": 1.0},)),
                       lambda num_classes, beta: 4.0 * (num_classes - 1.0)),
    limits=(
        Limit("beta", 0.0, "cross_entropy", "beta = 0 is cross-entropy", exact=True),
        Limit("beta", 1.0, "mae", "beta = 1 is 4 (1 - S_y)", scale=4.0, exact=True),
    ),
    reference="Wang, Ma, Chen, Luo, Yi, Bailey, ICCV 2019 (arXiv 1908.06112), the SL loss with A = -4; " + _LDR_REF
    + ", code loss.py (the weights)",
))

register(LossEntry(
    name="mse",
    fn=_Lazy("theory.ldr.baselines", "softmax_squared_error_loss"),
    family="softmax",
    summary="squared error of the softmax ||e_y - S||^2 (Brier score)",
    hyperparameters={},
    shift_invariant=True,
    value_range=(0.0, 2.0),
    convex_in_logits=False,
    calibrated=Where("always (a strictly proper scoring rule: the minimiser is S = q)", lambda num_classes: True,
                     ({},)),
    reference="Brier, Monthly Weather Review 1950; Ghosh, Kumar, Sastry, AAAI 2017 (arXiv 1712.09482), baselines",
))

register(LossEntry(
    name="ldr_kl",
    fn=_Lazy("theory.ldr.losses", "ldr_kl_loss"),
    family="ldr",
    summary="LDR-KL lam log mean_k exp(a_k/lam), a_k = c (1 - delta_ky) + f_k - f_y",
    hyperparameters={"lam": _LAM, "margin": _MARGIN},
    shift_invariant=True,
    value_range=lambda num_classes, lam, margin: (-lam * math.log(num_classes) if lam < INF else -INF, INF),
    convex_in_logits=True,
    calibrated=Where("0 < lam < inf with a uniform margin c >= 0 (lam = 0, Crammer-Singer, needs q_max > 1/2; "
                     "lam = inf is linear in f)", lambda num_classes, lam, margin: 0.0 < lam < INF and margin >= 0.0,
                     ({"lam": 1.0, "margin": 0.0}, {"lam": 0.5, "margin": 1.0})),
    symmetric=Symmetry(Where("lam = inf (the mean margin)", lambda num_classes, lam, margin: lam == INF,
                             ({"lam": INF},)),
                       lambda num_classes, lam, margin: margin * (num_classes - 1.0)),
    limits=(
        Limit("lam", 0.0, "crammer_singer", "lam -> 0: the Crammer-Singer loss, 0 <= CS - psi_lam <= lam log K",
              hyper=lambda lam, margin: {"margin": margin}, exact=True, near=1e-3,
              bound=lambda logits, labels, limit, num_classes, lam, margin: lam * math.log(num_classes)),
        Limit("lam", INF, "ldr_kl", "lam -> inf: the mean margin (1/K) sum_k a_k, 0 <= psi_lam - mean <= "
              "spread(a)^2/(8 lam)", hyper=lambda lam, margin: {"lam": INF, "margin": margin}, exact=True,
              near=1e4, bound=lambda logits, labels, limit, num_classes, lam, margin:
              _spread(logits, labels, margin) ** 2 / (8.0 * lam)),
    ),
    reference=_LDR_REF + ", the LDR-KL loss and its closed form; T. Yang, *Optimization for Machine Learning*, "
    "Sec. 2.1; docs/ldr.md",
))

register(LossEntry(
    name="crammer_singer",
    fn=_Lazy("theory.ldr.losses", "crammer_singer_loss"),
    family="ldr",
    summary="Crammer-Singer max(0, max_{k != y} c + f_k - f_y) = max_k a_k (LDR-KL at lam = 0)",
    hyperparameters={"margin": dataclasses.replace(_MARGIN, default=1.0)},
    shift_invariant=True,
    value_range=(0.0, INF),
    convex_in_logits=True,
    calibrated=False,
    equals=("ldr_kl", lambda margin: {"lam": 0.0, "margin": margin}),
    reference="Crammer, Singer, *On the Algorithmic Implementation of Multiclass Kernel-based Vector Machines*, "
    "JMLR 2001; " + _LDR_REF + " (the lam = 0 case)",
))

register(LossEntry(
    name="weston_watkins",
    fn=_Lazy("theory.ldr.losses", "weston_watkins_loss"),
    family="ldr",
    summary="Weston-Watkins sum_{k != y} max(0, c + f_k - f_y)",
    hyperparameters={"margin": dataclasses.replace(_MARGIN, default=1.0)},
    shift_invariant=True,
    value_range=(0.0, INF),
    convex_in_logits=True,
    calibrated=False,
    reference="Weston, Watkins, *Support Vector Machines for Multi-Class Pattern Recognition*, ESANN 1999; not "
    "calibrated for K >= 3: Tewari, Bartlett, *On the Consistency of Multiclass Classification Methods*, JMLR 2007",
))

register(LossEntry(
    name="ldr_topk",
    fn=_Lazy("theory.ldr.general", "ldr_loss", reg="kl"),
    family="ldr",
    summary="top-k LDR-KL max_{p in Delta, p <= 1/k} <p, a> - lam KL(p || u)",
    hyperparameters={"lam": _LAM, "margin": _MARGIN, "k": _K},
    shift_invariant=True,
    value_range=lambda num_classes, lam, margin, k: (
        (-lam * math.log(num_classes) if lam < INF else -INF) if k == 1 else -INF, INF),
    convex_in_logits=True,
    calibrated=False,
    symmetric=Symmetry(Where("k = num_classes or lam = inf (p = u: the mean margin)",
                             lambda num_classes, lam, margin, k: k == num_classes or lam == INF,
                             ({"k": lambda num_classes: num_classes}, {"lam": INF})),
                       lambda num_classes, lam, margin, k: margin * (num_classes - 1.0)),
    limits=(
        Limit("lam", 0.0, "topk_svm", "lam -> 0: the top-k SVM, 0 <= svm - psi <= lam log(K/k)",
              hyper=lambda lam, margin, k: {"margin": margin, "k": k}, exact=True, near=1e-3,
              bound=lambda logits, labels, limit, num_classes, lam, margin, k: lam * math.log(num_classes / k)),
        Limit("lam", INF, "ldr_kl", "lam -> inf: the mean margin, 0 <= psi - mean <= spread(a)^2/(8 lam)",
              hyper=lambda lam, margin, k: {"lam": INF, "margin": margin}, exact=True, near=1e4,
              bound=lambda logits, labels, limit, num_classes, lam, margin, k:
              _spread(logits, labels, margin) ** 2 / (8.0 * lam)),
        Limit("k", 1, "ldr_kl", "k = 1 is LDR-KL", hyper=lambda lam, margin, k: {"lam": lam, "margin": margin},
              exact=True),
    ),
    reference=_LDR_REF + ", the general LDR loss on Omega_k; T. Yang, *Optimization for Machine Learning*, Sec. 2.5",
))

register(LossEntry(
    name="topk_svm",
    fn=_Lazy("theory.ldr.general", "ldr_loss", reg="none", lam=0.0),
    family="ldr",
    summary="top-k SVM: the mean of the k largest margins a_k (a_y = 0 included)",
    hyperparameters={"margin": dataclasses.replace(_MARGIN, default=1.0), "k": _K},
    shift_invariant=True,
    value_range=lambda num_classes, margin, k: (0.0 if k == 1 else -INF, INF),
    convex_in_logits=True,
    calibrated=False,
    symmetric=Symmetry(Where("k = num_classes (the mean margin)", lambda num_classes, margin, k: k == num_classes,
                             ({"k": lambda num_classes: num_classes},)),
                       lambda num_classes, margin, k: margin * (num_classes - 1.0)),
    limits=(
        Limit("k", 1, "crammer_singer", "k = 1 is Crammer-Singer", hyper=lambda margin, k: {"margin": margin},
              exact=True),
    ),
    reference="T. Yang, *Optimization for Machine Learning*, Sec. 2.5 (top-k SVM as R = 0 on Omega_k); Lapin, Hein, "
    "Schiele, *Top-k Multiclass SVM*, NeurIPS 2015 (arXiv 1511.06683), a variant; " + _LDR_REF,
))

register(LossEntry(
    name="ldr_l2",
    fn=_Lazy("theory.ldr.general", "ldr_loss", reg="l2", k=1),
    family="ldr",
    summary="LDR with R = ||p - u||^2/2: max_{p in Delta} <p, a> - lam ||p - u||^2/2 (a simplex projection)",
    hyperparameters={"lam": dataclasses.replace(_LAM, low_open=True, special=(INF,)), "margin": _MARGIN},
    shift_invariant=True,
    value_range=lambda num_classes, lam, margin: (-INF, INF),
    convex_in_logits=True,
    calibrated=False,
    symmetric=Symmetry(Where("lam = inf (the mean margin)", lambda num_classes, lam, margin: lam == INF,
                             ({"lam": INF},)),
                       lambda num_classes, lam, margin: margin * (num_classes - 1.0)),
    limits=(
        Limit("lam", 0.0, "crammer_singer", "lam -> 0: Crammer-Singer, 0 <= CS - psi <= lam (1 - 1/K)/2",
              hyper=lambda lam, margin: {"margin": margin}, near=1e-4,
              bound=lambda logits, labels, limit, num_classes, lam, margin: 0.5 * lam * (1.0 - 1.0 / num_classes)),
        Limit("lam", INF, "ldr_kl", "lam -> inf: the mean margin, 0 <= psi - mean <= ||a - mean a||^2/(2 lam)",
              hyper=lambda lam, margin: {"lam": INF, "margin": margin}, exact=True, near=1e4,
              bound=lambda logits, labels, limit, num_classes, lam, margin:
              _centred_norm2(logits, labels, margin) / (2.0 * lam)),
    ),
    reference=_LDR_REF + ", the general LDR loss; T. Yang, *Optimization for Machine Learning*, Sec. 2.1",
))

register(LossEntry(
    name="aldr_kl",
    fn=_Lazy("theory.ldr.aldr", "aldr_kl_loss"),
    family="ldr",
    summary="ALDR-KL max_{lam >= 0} psi_lam - alpha (lam - lam0)^2/2, solved exactly per example",
    hyperparameters={
        "lam0": Hyper(0.0, INF, low_open=True, high_open=True, default=1.0, typical=(0.2, 10.0), log=True,
                      doc="the reference temperature lambda_0"),
        "alpha": Hyper(0.0, INF, low_open=True, high_open=True, default=5.0, typical=(2.0, 50.0), log=True,
                       doc="the penalty on lam - lam0; must exceed log(K)/lam0"),
        "margin": _MARGIN,
    },
    constraint=Where("alpha > log(K)/lam0 (so that lambda* > 0)",
                     lambda num_classes, lam0, alpha, margin: alpha > math.log(num_classes) / lam0),
    shift_invariant=True,
    value_range=lambda num_classes, lam0, alpha, margin: (-lam0 * math.log(num_classes), INF),
    convex_in_logits=Where("always (a supremum over lambda of losses convex in f)",
                           lambda num_classes, lam0, alpha, margin: True, ({},)),
    calibrated=False,
    limits=(
        Limit("alpha", INF, "ldr_kl", "alpha -> inf: LDR-KL at lam0, 0 <= psi^A - psi_lam0 <= (log K)^2/alpha",
              hyper=lambda lam0, alpha, margin: {"lam": lam0, "margin": margin}, near=1e5,
              bound=lambda logits, labels, limit, num_classes, lam0, alpha, margin: math.log(num_classes) ** 2 / alpha),
    ),
    reference=_LDR_REF + ", ALDR-KL (the adaptive temperature; code ALDRLoss_V1); docs/ldr.md",
))


# ------------------------------------------------------------------------------------------------
# Binary margin losses phi(z), z = f_y - f_{1-y}: two classes only
# ------------------------------------------------------------------------------------------------

_MARGIN_REF = ("Bartlett, Jordan, McAuliffe, *Convexity, Classification, and Risk Bounds*, JASA 2006 (a convex phi is "
               "calibrated iff differentiable at 0 with phi'(0) < 0); Dai, ICML 2025 (arXiv 2409.00908), the "
               "fixed-loss baselines of EnsLoss; docs/ensloss.md, \"Margin losses and the CC conditions\"")


def _margin_entry(name, summary, *, value_range=(0.0, INF), convex=True, calibrated=True, **extra):
    return register(LossEntry(
        name=name,
        fn=_Lazy("theory.ensloss.margin_losses", "two_class_margin_loss", margin_loss=name),
        family="margin",
        summary=summary,
        hyperparameters={},
        shift_invariant=True,
        value_range=value_range,
        convex_in_logits=convex,
        calibrated=calibrated,
        reference=_MARGIN_REF,
        num_classes=2,
        **extra,
    ))


_margin_entry("logistic", "logistic log(1 + exp(-z)) of the margin z = f_y - f_{1-y} (two-class cross-entropy)",
              equals=("cross_entropy", lambda: {}))
_margin_entry("exponential", "exponential (AdaBoost) exp(-z) of the margin z = f_y - f_{1-y}")
_margin_entry("hinge", "hinge (1 - z)_+ of the margin z = f_y - f_{1-y} (Weston-Watkins at two classes, margin 1)",
              equals=("weston_watkins", lambda: {"margin": 1.0}))
_margin_entry("squared_hinge", "squared hinge (1 - z)_+^2 of the margin z = f_y - f_{1-y}")
_margin_entry("perceptron", "perceptron (-z)_+ of the margin: convex, not differentiable at 0, so not calibrated",
              calibrated=False)
_margin_entry("sigmoid", "sigmoid 1/(1 + exp(z)) of the margin: calibrated, not convex; phi(z) + phi(-z) = 1",
              value_range=(0.0, 1.0), convex=False,
              symmetric=Symmetry(Where("for every hyperparameter value", lambda num_classes: True, ({},)),
                                 lambda num_classes: 1.0))
