"""Claims of the ``icl`` topic: the trained LSA layer against the closed-form optimum.

Trained claims fit the full layer with Adam (:func:`theory.icl.simulate.train_lsa_padded`: one compiled
trainer for every ``(n, d, sigma^2, target)``, ``vmap`` over seeds; the shared experiment :data:`TRAINED`)
and compare the learned effective matrix :math:`\\Gamma = cA + ub^\\top`, averaged over the seeds,
elementwise with the closed form within ``4`` standard errors plus the optimisation floor :data:`OPT_FLOOR`.
The other claims need no training: the exact population loss (autodiff, float64), the Monte-Carlo risk
curve of one GD step, and the GD construction. Every claim names its rivals: the prediction off by 20%
either way and the named neighbouring formulas (off-by-one moments, the sum-form step, the noise term
dropped, the wrong preconditioner, the linear-target step for ReLU targets), which the same run must reject.

References:
    Mahankali, Hashimoto, Ma, ICLR 2024 (arXiv 2307.03576), Theorems 1-3 (as recalled); docs/icl.md.
"""

from __future__ import annotations

import dataclasses
import warnings
import zlib

import jax
import numpy as np

from theory._compat import keyword_only
from theory.icl import lsa, optimum
from theory.icl.population import stationary_point
from theory.icl.simulate import gd_risk_coefficients, train_lsa_padded, unpad_params
from theory.verify import Claim, Experiment, Measurement, Rival, agrees, numpy_rng, register
from theory.verify.rivals import off_by_20_percent

PAPER = "Mahankali-Hashimoto-Ma ICLR 2024"

#: Optimisation floor of the trained claims: the largest |mean error| of an entry of Gamma in pilots with
#: 32 seeds per point (1000 Adam steps, batch 128, cosine decay to 1e-4; points (8,3,0.25) with
#: Sx = Q diag(0.5,1,2.5) Q^T, (6,3,1), ReLU (5,2,0.25)) was 0.0018 +- 0.0011: within 2 SE of 0, so
#: 0.002 bounds the deterministic (not-yet-converged) part that the seed-to-seed SE cannot see.
OPT_FLOOR = 0.002
OPT_REASON = ("k SE over seeds (the Adam noise floor, ~0.002-0.005 per seed, is in the seed spread) + the "
              f"optimisation floor {OPT_FLOOR:g}: |mean error| <= 0.0018 +- 0.0011 in 32-seed pilots (docs/icl.md)")

#: A seed whose final risk exceeds the best seed's by more than this (relative, on common prompts) is trapped.
TRAP_REL = 0.005


def _rotated(spectrum, rng):
    spectrum = np.asarray(spectrum, np.float64)
    q, r = np.linalg.qr(rng.standard_normal((spectrum.size, spectrum.size)))
    q = q * np.sign(np.diag(r))
    return q @ np.diag(spectrum) @ q.T


def rotated_covariance(spectrum, *args, key=None, seed=None):
    """``Q diag(spectrum) Q^T`` with a Haar-random rotation ``Q`` drawn from the JAX PRNG ``key``.

    The rotation is the QR factor (signs fixed by ``R``'s diagonal) of a Gaussian matrix drawn by
    :func:`theory.verify.numpy_rng` from ``key``. The old ``seed`` (positional or keyword, default 0) still works
    with a ``DeprecationWarning`` and draws the same rotation as before, from ``numpy.random.default_rng(seed)``
    (the claims' configs name their rotation by such a ``rotation_seed``).

    Example:
        >>> import jax, numpy as np
        >>> c = rotated_covariance([0.5, 1.0, 2.5], key=jax.random.key(0))
        >>> np.round(np.linalg.eigvalsh(c), 12).tolist()
        [0.5, 1.0, 2.5]
    """
    if args:
        if len(args) > 1 or seed is not None:
            raise TypeError("rotated_covariance takes the spectrum and a keyword-only key")
        seed = args[0]
    if key is not None:
        if seed is not None:
            raise TypeError("rotated_covariance: pass key only (seed is its deprecated predecessor)")
        return _rotated(spectrum, numpy_rng(key))
    warnings.warn("rotated_covariance: the seed is deprecated; pass key=jax.random.key(...)", DeprecationWarning,
                  stacklevel=2)
    return _rotated(spectrum, np.random.default_rng(0 if seed is None else seed))


def _covs(cfg):
    """``(cov_x, cov_w)`` of a config: isotropic, or ``cov_x`` with the given spectrum and the paper's
    ``cov_w = cov_x^{-1}`` (``"w_prior": "inverse"``) or ``cov_w = I`` (``"identity"``)."""
    d = cfg["d"]
    if "spectrum" not in cfg:
        return np.eye(d), np.eye(d)
    sx = _rotated(cfg["spectrum"], np.random.default_rng(cfg.get("rotation_seed", 0)))
    sw = np.linalg.inv(sx) if cfg.get("w_prior", "inverse") == "inverse" else np.eye(d)
    return sx, 0.5 * (sw + sw.T)


@keyword_only("rel")
def trapped_seeds(final_losses, *, rel=0.02):
    """Seeds whose final loss exceeds the best seed's by more than ``rel`` (relative).

    Adam can stall at non-global stationary points: the rank-one point ``c = 0, A = 0`` or, as observed
    with ReLU targets, a point with non-zero nuisance ``u, b`` (finding 4 of docs/icl.md), whose losses
    are well above R*; such runs are not at the global minimiser the theorems describe. They are
    identified from the final loss alone (never from the prediction), reported in the measurement note
    and left out. The trained claims pass the risks of all seeds on common prompts
    (:func:`~theory.icl.simulate.train_lsa_padded`) with ``rel =`` :data:`TRAP_REL`: converged seeds then
    differ by < 0.4% (pilots), stalled ones by 1.5-30%.
    """
    final = np.asarray(final_losses, np.float64)
    return np.flatnonzero(final > final.min() * (1 + rel))


# ---------------------------------------------------------------------------------------------
# the trained layers: the shared experiment of the four trained claims (group "icl.trained")

_TRAIN_KEYS = ("steps", "batch", "seeds", "lr", "n_pad", "d_pad", "eval_batches")


@dataclasses.dataclass(frozen=True)
class Fit:
    """Trained layers at one point, seeds that are not trapped only: ``gamma (S, d, d)``, the final risk on
    common prompts ``risk (S,)`` with its MC standard error ``risk_se``, and a one-line ``note``."""

    gamma: np.ndarray
    risk: np.ndarray
    risk_se: np.ndarray
    note: str


class TrainedLayers:
    """The layers trained with one protocol (the config's :data:`_TRAIN_KEYS`) from one key, point by point.

    :meth:`fit` trains the layers at a point on first use and keeps them in this object, which the engine
    creates once per run and shares among the claims of the experiment :data:`TRAINED` (nothing is kept
    between runs). The key of a point is the experiment's key folded with the point, so a point gets the
    same layers whichever claim asks for it first.
    """

    def __init__(self, key, cfg):
        self.key = key
        self.protocol = {k: cfg[k] for k in _TRAIN_KEYS}
        self._fits: dict = {}

    def fit(self, n, d, noise_var, target="linear", cov=None) -> Fit:
        """The layers at ``(n, d, noise_var, target, cov)``: ``cov`` is ``None`` (isotropic) or a config with
        ``spectrum``, ``rotation_seed``, ``w_prior``."""
        point = (int(n), int(d), float(noise_var), target,
                 None if cov is None else (tuple(cov["spectrum"]), cov.get("rotation_seed", 0), cov.get("w_prior")))
        if point not in self._fits:
            self._fits[point] = self._train(point, cov)
        return self._fits[point]

    def _train(self, point, cov):
        n, d, noise_var, target, _ = point
        cfg = self.protocol
        k = jax.random.fold_in(self.key, zlib.crc32(repr(point).encode()) & 0x7FFFFFFF)
        sx, sw = (None, None) if cov is None else _covs({**cov, "d": d})
        W_KQ, W_PV, _, risk, risk_se = train_lsa_padded(
            key=k, num_samples=n, dim=d, num_samples_pad=cfg["n_pad"], dim_pad=cfg["d_pad"], num_steps=cfg["steps"],
            batch=cfg["batch"], num_replicates=cfg["seeds"], noise_var=noise_var, cov_x=sx, cov_w=sw, target=target,
            lr=cfg["lr"], eval_batches=cfg["eval_batches"])
        G, u, c, A, b = (np.asarray(a, np.float64) for a in lsa.effective_params(unpad_params(W_KQ, dim=d),
                                                                                 unpad_params(W_PV, dim=d)))
        bad = trapped_seeds(risk, rel=TRAP_REL)
        good = np.setdiff1d(np.arange(cfg["seeds"]), bad)
        nuis = max(np.max(np.linalg.norm(u[good], axis=1) * np.linalg.norm(A[good], axis=(1, 2))),
                   np.max(np.abs(c[good]) * np.linalg.norm(b[good], axis=1)))
        note = (f"({n},{d},{noise_var:g}{', ' + target if target != 'linear' else ''}): {len(good)} seeds, "
                f"eff. step {np.trace(G[good], axis1=1, axis2=2).mean() / d:.4f}, max nuisance {nuis:.4f}"
                + (f", TRAPPED seeds {bad.tolist()} (final risk +{np.round(risk[bad] / risk.min() - 1, 3).tolist()}"
                   " rel.) left out" if len(bad) else ""))
        return Fit(G[good], risk[good], risk_se[good], note)


#: The experiment of the trained claims: the engine runs it once per (key, training protocol) and hands the
#: same :class:`TrainedLayers` to each claim trained with that protocol (the config's :data:`_TRAIN_KEYS`);
#: the claims share the key of the group "icl.trained".
TRAINED = Experiment("icl.trained", TrainedLayers, config_keys=_TRAIN_KEYS)


def _gamma_measurement(fits, *, pooled, what):
    """Mean learned Gamma per point (flattened, joined) and its standard error over seeds.

    ``pooled``: isotropic covariates and task law are invariant under signed permutations of the
    coordinates, and so are Adam and the i.i.d. initialisation, so all diagonal entries of Gamma share
    one law and all off-diagonal entries another: their seed variances are pooled ((S-1) d and
    (S-1) d (d-1) degrees of freedom), which keeps 4 SE a 4-sigma margin with a handful of seeds.
    Otherwise each entry has its own SE.
    """
    est, se, labels = [], [], []
    for f in fits:
        S, d = f.gamma.shape[0], f.gamma.shape[1]
        var = f.gamma.var(axis=0, ddof=1) if S > 1 else np.full((d, d), np.nan)
        if pooled:
            eye = np.eye(d, dtype=bool)
            var = np.where(eye, var[eye].mean(), var[~eye].mean() if d > 1 else 0.0)
        est.append(f.gamma.mean(axis=0).ravel())
        se.append(np.sqrt(var / S).ravel())
        labels += [f"{f.note.split(':')[0]} Gamma[{i},{j}]" for i in range(d) for j in range(d)]
    return Measurement(np.concatenate(est), np.concatenate(se), min(f.gamma.shape[0] for f in fits), None,
                       {"labels": labels}, what + "; " + "; ".join(f.note for f in fits))


def _points(cfg):
    return [tuple(p) for p in cfg["points"]]


def _iso(fn):
    """An isotropic closed form of :mod:`theory.icl.optimum` as ``(n, d, s2) -> value`` (the rivals' signature)."""
    return lambda n, d, s2: fn(num_samples=n, dim=d, noise_var=s2)


def _isotropic(step):
    """``config -> step(n, d, s2) I`` flattened and joined over the config's points."""
    return lambda cfg: np.concatenate([(step(n, d, s2) * np.eye(d)).ravel() for n, d, s2 in _points(cfg)])


# named neighbours of the optimal step (mean form, isotropic)

def eta_off_by_one(n, d, s2):
    """``n/(n+d+s2)``: the fourth moment ``E||x||^4`` taken as ``d(d+1)`` instead of ``d(d+2)``."""
    return n / (n + d + s2)


def eta_noise_ignored(n, d, s2):
    """``n/(n+d+1)``: the label noise left out of the second moment of ``v``."""
    return n / (n + d + 1.0)


def eta_sum_form(n, d, s2):
    """``1/(n+d+1+s2)``: the sum-form step read as the mean-form Gamma."""
    return 1.0 / (n + d + 1.0 + s2)


def relu_step_noise_unweighted(n, d, s2):
    """``n/(n+2d+3+s2)``: the ReLU step with the noise entering as for linear targets (``sigma^2`` instead of
    ``sigma^2 d / mu_1 = 4 d sigma^2``)."""
    return n / (n + 2.0 * d + 3.0 + s2)


_TRAIN = {"steps": 1000, "batch": 128, "seeds": 12, "lr": 1e-2, "n_pad": 8, "d_pad": 3, "eval_batches": 1024}
#: Smoke trains with the default protocol (the optimisation floor OPT_FLOOR was measured for it) and 8 seeds: with
#: 4 seeds the 4-SE margin is a t_3 quantile (a true claim failed at smoke seeds 4, 5 of a 0-9 sweep).
_SMOKE_TRAIN = {**_TRAIN, "seeds": 8, "eval_batches": 256}


# ---------------------------------------------------------------------------------------------
# icl.step_size  (Theorem 1)


def _step_measure(key, cfg, layers):
    return _gamma_measurement([layers.fit(n, d, s2) for n, d, s2 in _points(cfg)], pooled=True,
                              what="learned Gamma = cA + ub^T, mean over seeds (SE pooled over diagonal and over "
                              "off-diagonal entries)")


_step_predict = _isotropic(_iso(optimum.optimal_step_size))

STEP_SIZE = Claim(
    id="icl.step_size",
    topic="icl",
    reference=f"{PAPER}, Thm 1",
    statement="With isotropic Gaussian covariates and weights, Adam-trained LSA layers implement one GD step: "
    "Gamma_learned = eta* I with eta*_mean = n/(n+d+1+sigma^2) (sum form 1/(n+d+1+sigma^2)), across (n, d, sigma^2).",
    predict=_step_predict,
    measure=_step_measure,
    compare=agrees(4, atol=OPT_FLOOR, reason=OPT_REASON),
    configs={
        "smoke": {"points": [[6, 3, 1.0]], **_SMOKE_TRAIN},
        # (6,3,1): off-by-one and noise-ignored both 0.600 vs 0.545; (8,2,4): noise ignored 0.727 vs 0.533;
        # (3,2,0.25): off-by-one 0.571 vs 0.480. Half-width 4 SE + 0.002 ~ 0.005 at default.
        "default": {"points": [[6, 3, 1.0], [8, 2, 4.0], [3, 2, 0.25]], **_TRAIN},
        "paper": {"points": [[6, 3, 1.0], [8, 2, 4.0], [3, 2, 0.25], [10, 4, 0.25], [20, 5, 1.0], [40, 3, 0.25]],
                  **_TRAIN, "seeds": 16, "steps": 3000, "batch": 512, "n_pad": 40, "d_pad": 5},
    },
    experiment=TRAINED,
    rivals=(
        *off_by_20_percent(_step_predict),
        Rival("sum form 1/(n+d+1+s2)", _isotropic(eta_sum_form),
              "the sum-form step of the paper's printed statement used as the mean-form Gamma"),
        Rival("off-by-one n/(n+d+s2)", _isotropic(eta_off_by_one),
              "the Gaussian fourth moment E||x||^4 = d(d+2) miscounted as d(d+1)"),
        Rival("noise ignored n/(n+d+1)", _isotropic(eta_noise_ignored),
              "the label noise left out of E[v v^T]"),
    ),
)


# ---------------------------------------------------------------------------------------------
# icl.preconditioner  (Theorem 2)


def _precond_predict(cfg):
    sx, sw = _covs(cfg)
    return optimum.optimal_preconditioner(num_samples=cfg["n"], cov_x=sx, cov_w=sw, noise_var=cfg["noise_var"]).ravel()


def _precond_measure(key, cfg, layers):
    m = _gamma_measurement([layers.fit(cfg["n"], cfg["d"], cfg["noise_var"], cov=cfg)], pooled=False,
                           what="learned Gamma, mean over seeds (SE per entry)")
    sx, sw = _covs(cfg)
    star = optimum.optimal_preconditioner(num_samples=cfg["n"], cov_x=sx, cov_w=sw, noise_var=cfg["noise_var"])
    rel = np.linalg.norm(m.estimate - star.ravel()) / np.linalg.norm(star)
    return dataclasses.replace(m, note=f"relative Frobenius error vs closed form {rel:.4f}; " + m.note)


def _precond_step_times(matrix):
    """``config -> eta* matrix(Sx)`` flattened (a rival preconditioner with the right step)."""
    def predict(cfg):
        sx, _ = _covs(cfg)
        eta = optimum.optimal_step_size(num_samples=cfg["n"], dim=cfg["d"], noise_var=cfg["noise_var"])
        return (eta * matrix(sx)).ravel()

    return predict


def _precond_identity_prior_form(cfg):
    """The ``Sw = I`` optimum ``n[(n+1)Sx + (tr Sx + s2)I]^{-1}`` used for the paper's prior ``Sw = Sx^{-1}``."""
    sx, _ = _covs(cfg)
    n, d = cfg["n"], cfg["d"]
    return (n * np.linalg.inv((n + 1) * sx + (np.trace(sx) + cfg["noise_var"]) * np.eye(d))).ravel()


_PRECOND = {"n": 8, "d": 3, "noise_var": 0.25, "spectrum": [0.5, 1.0, 2.5], "w_prior": "inverse"}

PRECONDITIONER = Claim(
    id="icl.preconditioner",
    topic="icl",
    reference=f"{PAPER}, Thm 2",
    statement="For x ~ N(0, Sx), w ~ N(0, Sx^-1) the trained LSA implements one preconditioned GD step: "
    "Gamma_learned = M^-1 B = eta*_mean Sx^-1 (same step as Theorem 1).",
    predict=_precond_predict,
    measure=_precond_measure,
    compare=agrees(4, atol=OPT_FLOOR, reason=OPT_REASON),
    configs={
        "smoke": {**_PRECOND, **_SMOKE_TRAIN},
        "default": {**_PRECOND, **_TRAIN},
        "paper": {**_PRECOND, "n": 10, **_TRAIN, "seeds": 16, "steps": 3000, "batch": 512, "n_pad": 40, "d_pad": 5},
    },
    experiment=TRAINED,
    rivals=(
        *off_by_20_percent(_precond_predict),
        Rival("eta* I", _precond_step_times(lambda sx: np.eye(sx.shape[0])),
              "plain GD with the isotropic step: the covariance ignored"),
        Rival("eta* Sx", _precond_step_times(lambda sx: sx), "the preconditioner Sx instead of its inverse"),
        Rival("Sw = I form", _precond_identity_prior_form,
              "the optimum for the weight prior Sw = I (Ahn et al. 2023) used for the paper's prior Sw = Sx^-1"),
    ),
)


# ---------------------------------------------------------------------------------------------
# icl.nonlinear  (Theorem 3)


def _relu_measure(key, cfg, layers):
    return _gamma_measurement([layers.fit(n, d, s2, target="relu") for n, d, s2 in _points(cfg)], pooled=True,
                              what="ReLU targets f(x) = a relu(v^T x); learned Gamma, mean over seeds (SE pooled "
                              "over diagonal and over off-diagonal entries)")


_relu_predict = _isotropic(_iso(optimum.relu_optimal_step_size))

NONLINEAR = Claim(
    id="icl.nonlinear",
    topic="icl",
    reference=f"{PAPER}, Thm 3 (one GD step for non-linear targets); the ReLU step gamma* is derived by the library "
    "(docs/icl.md)",
    statement="For sign-symmetric rotation-invariant ReLU targets a relu(v^T x) plus label noise the trained LSA is "
    "still one GD step on least squares, Gamma = gamma* I, with the library-derived gamma* = n/(n+2d+3+4d sigma^2) "
    "(not the linear-target step).",
    predict=_relu_predict,
    measure=_relu_measure,
    compare=agrees(4, atol=OPT_FLOOR, reason=OPT_REASON),
    configs={
        "smoke": {"points": [[5, 2, 0.25]], **_SMOKE_TRAIN},
        # (8,3,0.5): gamma* 0.348, linear step 0.640, noise unweighted 0.457; (5,2,0.25): 0.357, 0.606, 0.408
        "default": {"points": [[8, 3, 0.5], [5, 2, 0.25]], **_TRAIN},
        "paper": {"points": [[8, 3, 0.5], [5, 2, 0.25], [10, 4, 0.0], [20, 3, 0.25]], **_TRAIN, "seeds": 16,
                  "steps": 3000, "batch": 512, "n_pad": 40, "d_pad": 5},
    },
    experiment=TRAINED,
    rivals=(
        *off_by_20_percent(_relu_predict),
        Rival("linear-target step n/(n+d+1+s2)", _isotropic(_iso(optimum.optimal_step_size)),
              "Theorem 1's step carried over to ReLU targets"),
        Rival("noise unweighted n/(n+2d+3+s2)", _isotropic(relu_step_noise_unweighted),
              "the noise entering as for linear targets, without its weight d/mu_1 = 4d"),
    ),
)


# ---------------------------------------------------------------------------------------------
# icl.trained_risk


def _risk_measure(key, cfg, layers):
    f = layers.fit(cfg["n"], cfg["d"], cfg["noise_var"])
    # all seeds are evaluated on the same prompts: average them, keep the Monte-Carlo SE of one
    return Measurement(float(f.risk.mean()), float(f.risk_se.max()), len(f.risk), f.risk,
                       note=f"Rao-Blackwellised MC risk of each trained layer on {cfg['eval_batches'] * cfg['batch']} "
                       f"fresh prompts common to all seeds: {np.round(f.risk, 5).tolist()}; " + f.note)


def _risk_at(formula):
    return lambda cfg: formula(cfg["n"], cfg["d"], cfg["noise_var"])


def risk_noise_free_numerator(n, d, s2):
    """``s2 + d(d+1)/(n+d+1+s2)``: R* with the noise left out of the numerator."""
    return s2 + d * (d + 1.0) / (n + d + 1.0 + s2)


def risk_off_by_one(n, d, s2):
    """``s2 + d(d+1+s2)/(n+d+s2)``: R* with the off-by-one fourth moment (denominator ``n+d`` for ``n+d+1``)."""
    return s2 + d * (d + 1.0 + s2) / (n + d + s2)


_risk_predict = _risk_at(_iso(optimum.optimal_risk))

TRAINED_RISK = Claim(
    id="icl.trained_risk",
    topic="icl",
    reference=f"{PAPER}, Thm 1 (optimal loss, derived by the library)",
    statement="The pre-training risk of the trained LSA equals R* = sigma^2 + d(d+1+sigma^2)/(n+d+1+sigma^2).",
    predict=_risk_predict,
    measure=_risk_measure,
    compare=agrees(4, atol=0.002, reason="k MC SE + the mean optimisation excess R(layer) - R* >= 0 of the kept "
                   "seeds: their risks on common prompts differ by ~4e-4, a slow seed by <= 0.3% of R* (7e-3) in "
                   "pilots, so the mean over 12 seeds is within 1e-3 of the best"),
    configs={
        # the point (6, 3, 1) of icl.step_size: the same trained layers (group icl.trained)
        "smoke": {"n": 6, "d": 3, "noise_var": 1.0, **_SMOKE_TRAIN},
        "default": {"n": 6, "d": 3, "noise_var": 1.0, **_TRAIN},
    },
    experiment=TRAINED,
    rivals=(
        *off_by_20_percent(_risk_predict),
        Rival("noise-free numerator", _risk_at(risk_noise_free_numerator),
              "s2 + d(d+1)/(n+d+1+s2): the noise dropped from the numerator"),
        Rival("R*(n+1)", lambda cfg: _iso(optimum.optimal_risk)(cfg["n"] + 1, cfg["d"], cfg["noise_var"]),
              "the context length off by one (the query counted as a context example)"),
        Rival("off-by-one n+d", _risk_at(risk_off_by_one), "the fourth moment d(d+1) instead of d(d+2)"),
    ),
)


# ---------------------------------------------------------------------------------------------
# icl.stationary_point


def _stat_cases(cfg):
    d = cfg["d"]
    rng = np.random.default_rng(cfg["seed"])
    a = rng.standard_normal((d, d))
    b = rng.standard_normal((d, d))
    sx = _rotated(cfg["spectrum"], np.random.default_rng(cfg["seed"]))
    sinv = np.linalg.inv(sx)
    return [(cfg["n"], np.eye(d), np.eye(d)), (cfg["n"], sx, 0.5 * (sinv + sinv.T)), (cfg["n"], sx, np.eye(d)),
            (cfg["n"], a @ a.T / d + 0.2 * np.eye(d), b @ b.T / d + 0.2 * np.eye(d))]


def _stat_measure(key, cfg):
    out = []
    for n, sx, sw in _stat_cases(cfg):
        W_KQ, W_PV, val, (g1, g2) = stationary_point(num_samples=n, cov_x=sx, cov_w=sw, noise_var=cfg["noise_var"])
        with jax.enable_x64(True):
            gamma = np.asarray(lsa.effective_params(W_KQ, W_PV)[0])
        out.append(np.concatenate([gamma.ravel(), g1.ravel(), g2.ravel(), [val]]))
    return Measurement.exact(np.concatenate(out), note="per case: Gamma at the autodiff (Newton) stationary point of "
                             "the exact population loss on the slice c = 1, u = b = 0; the full gradient there "
                             "(2(d+1)^2 entries); the loss. Gauss-Hermite exact, float64")


def _stat_predict(cfg):
    d, out = cfg["d"], []
    for n, sx, sw in _stat_cases(cfg):
        kw = {"num_samples": n, "cov_x": sx, "cov_w": sw, "noise_var": cfg["noise_var"]}
        g, r = optimum.optimal_preconditioner(**kw), optimum.optimal_preconditioned_risk(**kw)
        out.append(np.concatenate([g.ravel(), np.zeros(2 * (d + 1) ** 2), [r]]))
    return np.concatenate(out)


def _stationary_with(gamma_fn):
    """A rival closed form ``gamma_fn(n, Sx, Sw, s2)``: its Gamma, gradient 0 and its own risk, per case."""
    def predict(cfg):
        d, out = cfg["d"], []
        for n, sx, sw in _stat_cases(cfg):
            g = gamma_fn(n, sx, sw, cfg["noise_var"])
            out.append(np.concatenate([g.ravel(), np.zeros(2 * (d + 1) ** 2),
                                       [optimum.risk_of_preconditioner(g, num_samples=n, cov_x=sx, cov_w=sw,
                                                                        noise_var=cfg["noise_var"])]]))
        return np.concatenate(out)

    return predict


def gamma_identity_prior_form(n, sx, sw, s2):
    """``n[(n+1)Sx + (tr Sx + s2)I]^{-1}``: the ``Sw = I`` optimum used whatever the weight prior."""
    return n * np.linalg.inv((n + 1) * sx + (np.trace(sx) + s2) * np.eye(sx.shape[0]))


def gamma_off_by_one(n, sx, sw, s2):
    """``M^{-1}B`` with ``(n+1)/n -> 1`` in ``M`` (the ``j = k`` pairs of ``E[v v^T]`` forgotten)."""
    M = sx @ sw @ sx + (np.trace(sx @ sw) + s2) / n * sx
    return np.linalg.solve(M, sx @ sw)


STATIONARY = Claim(
    id="icl.stationary_point",
    topic="icl",
    reference=f"{PAPER}, Thms 1-2 (global optimum; general covariances derived by the library, docs/icl.md)",
    statement="The closed-form Gamma* = M^-1 B (with c = 1, u = b = 0) is a stationary point of the exact population "
    "loss of the full LSA (gradient 0 in all 2(d+1)^2 parameters, float64 autodiff) with loss R*, for isotropic, "
    "Sw = Sx^-1, Sw = I and random SPD covariances.",
    predict=_stat_predict,
    measure=_stat_measure,
    compare=agrees(0, atol=1e-9, rtol=1e-9, reason="float64 round-off of the quadrature sums and one linear solve"),
    configs={"smoke": {"n": 5, "d": 2, "noise_var": 0.5, "spectrum": [0.5, 2.0], "seed": 0},
             "default": {"n": 10, "d": 3, "noise_var": 0.25, "spectrum": [0.5, 1.0, 2.5], "seed": 0}},
    rivals=(
        *off_by_20_percent(_stat_predict),
        Rival("Sw = I form", _stationary_with(gamma_identity_prior_form),
              "the Sw = I optimum (Ahn et al. 2023) taken as the optimum for every weight prior"),
        Rival("M without (n+1)/n", _stationary_with(gamma_off_by_one),
              "the diagonal pairs j = k of E[v v^T] forgotten: M = Sx Sw Sx + (tr(Sx Sw) + s2)/n Sx"),
    ),
)


# ---------------------------------------------------------------------------------------------
# icl.step_argmin and icl.risk_curve (Monte Carlo of one GD step, no training)


def _coef(key, cfg, n, d, s2, **kw):
    return gd_risk_coefficients(key=key, num_samples=n, dim=d, batch=cfg["batch"], num_replicates=cfg["replicates"],
                                noise_var=s2, num_samples_pad=cfg.get("n_pad", n), **kw)


def _argmin_cases(cfg):
    cases = [(n, d, s2, {}) for n, d, s2 in _points(cfg)]
    if "spectrum" in cfg:  # the paper's non-isotropic case, preconditioner Sx^-1
        sx, sw = _covs({**cfg, "d": len(cfg["spectrum"])})
        cases.append((cfg["n_aniso"], len(cfg["spectrum"]), cfg["noise_var_aniso"],
                      {"cov_x": sx, "cov_w": sw, "preconditioner": np.linalg.inv(sx)}))
    return cases


def _argmin_measure(key, cfg):
    etas = [(q := _coef(jax.random.fold_in(key, i), cfg, n, d, s2, **kw))[:, 1] / q[:, 2]
            for i, (n, d, s2, kw) in enumerate(_argmin_cases(cfg))]
    return Measurement.from_replicates(np.stack(etas, axis=1), note="argmin_eta of the MC risk of w_1 = eta P v, "
                                       f"{cfg['batch']} fresh prompts per replicate (P = I, or Sx^-1 in the last case)")


def _argmin_at(step):
    return lambda cfg: np.array([step(n, d, s2) for n, d, s2, _ in _argmin_cases(cfg)])


_argmin_predict = _argmin_at(_iso(optimum.optimal_step_size))


STEP_ARGMIN = Claim(
    id="icl.step_argmin",
    topic="icl",
    reference=f"{PAPER}, Thms 1-2",
    statement="No other step size does better: the Monte-Carlo risk of one GD step (preconditioned by Sx^-1 in the "
    "paper's non-isotropic case) as a function of eta is minimised at eta*_mean = n/(n+d+1+sigma^2).",
    predict=_argmin_predict,
    measure=_argmin_measure,
    compare=agrees(4),
    configs={
        "smoke": {"points": [[10, 4, 0.25], [20, 4, 1.0]], "n_pad": 20, "batch": 8192, "replicates": 16},
        # (5,4,0): off-by-one 0.556 vs 0.5; (2,4,4): noise ignored 0.286 vs 0.182, off-by-one 0.2 (SE ~4e-4)
        "default": {"points": [[10, 4, 0.25], [20, 4, 1.0], [5, 4, 0.0], [2, 4, 4.0]], "n_pad": 20,
                    "spectrum": [0.5, 1.0, 1.5, 2.5], "n_aniso": 10, "noise_var_aniso": 0.25, "batch": 8192,
                    "replicates": 16},
    },
    rivals=(
        *off_by_20_percent(_argmin_predict),
        Rival("sum form 1/(n+d+1+s2)", _argmin_at(eta_sum_form), "the sum-form step read as the mean-form step"),
        Rival("off-by-one n/(n+d+s2)", _argmin_at(eta_off_by_one), "E||x||^4 = d(d+2) miscounted as d(d+1)"),
        Rival("noise ignored n/(n+d+1)", _argmin_at(eta_noise_ignored), "the label noise left out of E[v v^T]"),
    ),
)


def _curve_measure(key, cfg):
    mins = []
    for i, n in enumerate(cfg["ns"]):
        q = _coef(jax.random.fold_in(key, i), cfg, n, cfg["d"], cfg["noise_var"])
        mins.append(q[:, 0] - q[:, 1] ** 2 / q[:, 2])
    return Measurement.from_replicates(np.stack(mins, axis=1), inputs={"n": np.asarray(cfg["ns"])},
                                       note="min over eta of the MC risk curve of one GD step, per replicate")


def _curve_at(risk):
    return lambda cfg: np.array([risk(n, cfg["d"], cfg["noise_var"]) for n in cfg["ns"]])


def risk_of_step_09(n, d, s2):
    """The risk of one GD step with 0.9 eta*: a nearby sub-optimal step."""
    kw = {"num_samples": n, "dim": d, "noise_var": s2}
    return optimum.risk_of_step_size(0.9 * optimum.optimal_step_size(**kw), **kw)


_curve_predict = _curve_at(_iso(optimum.optimal_risk))

RISK_CURVE = Claim(
    id="icl.risk_curve",
    topic="icl",
    reference=f"{PAPER}, Thm 1 (optimal loss, derived by the library, docs/icl.md)",
    statement="The best one-step-GD risk, measured by Monte Carlo over eta, is R*(n) = sigma^2 + d(d+1+sigma^2)/"
    "(n+d+1+sigma^2) along n (no training).",
    predict=_curve_predict,
    measure=_curve_measure,
    compare=agrees(4, reason="k standard errors over replicates (the plug-in minimum is biased by O(1/batch), "
                   "< 0.05 SE here)"),
    configs={"smoke": {"ns": [1, 4, 20], "n_pad": 20, "d": 4, "noise_var": 0.25, "batch": 8192, "replicates": 16},
             # the shapes of icl.step_argmin (d = 4, n_pad = 20): one compiled estimator serves both claims
             "default": {"ns": [1, 4, 10, 20], "n_pad": 20, "d": 4, "noise_var": 0.25, "batch": 8192,
                         "replicates": 16}},
    rivals=(
        *off_by_20_percent(_curve_predict),
        Rival("noise-free numerator", _curve_at(risk_noise_free_numerator),
              "s2 + d(d+1)/(n+d+1+s2): the noise dropped from the numerator"),
        Rival("off-by-one n+d", _curve_at(risk_off_by_one), "the fourth moment d(d+1) instead of d(d+2)"),
        Rival("R(0.9 eta*)", _curve_at(risk_of_step_09),
              "the risk of a nearby sub-optimal step: the minimum over eta not attained at eta*"),
    ),
)


# ---------------------------------------------------------------------------------------------
# icl.gd_construction  (Sec. 3)


def _construction_measure(key, cfg):
    rng = numpy_rng(key)
    n, d, B = cfg["n"], cfg["d"], cfg["prompts"]
    X, y, xq = rng.standard_normal((B, n, d)), rng.standard_normal(B * n).reshape(B, n), rng.standard_normal((B, d))
    P = rng.standard_normal((d, d))
    Z = lsa.make_prompt(*(a.astype(np.float32) for a in (X, y, xq)))
    out = [np.asarray(lsa.lsa_predict(*lsa.gd_params(eta=eta, dim=d, preconditioner=pre), Z))
           for eta, pre in ((cfg["eta"], None), (cfg["eta"], P))]
    return Measurement.exact(np.concatenate(out), inputs={"X": X, "y": y, "x_q": xq, "P": P},
                             note="float32 LSA with W_KQ = [[eta P^T, 0], [0, 0]], W_PV[d] = e_{d+1}")


def _construction_predict(cfg):
    with jax.enable_x64(True):
        return np.concatenate([np.asarray(lsa.one_step_gd_predict(cfg["X"], cfg["y"], cfg["x_q"], eta=cfg["eta"],
                                                                  preconditioner=pre)) for pre in (None, cfg["P"])])


GD_CONSTRUCTION = Claim(
    id="icl.gd_construction",
    topic="icl",
    reference=f"{PAPER}, Sec. 3 (the GD construction; von Oswald et al. ICML 2023)",
    statement="The LSA with W_KQ = [[eta P^T, 0], [0, 0]] and W_PV[d, :] = (0, ..., 0, 1) outputs exactly one step "
    "of preconditioned GD on the mean-form least squares, x_q^T eta P (1/n) sum_i y_i x_i, on every prompt.",
    predict=_construction_predict,
    measure=_construction_measure,
    compare=agrees(0, atol=1e-5, rtol=1e-5, reason="float32 round-off of the layer vs the float64 GD step"),
    configs={"smoke": {"n": 7, "d": 3, "eta": 0.6, "prompts": 256},
             "default": {"n": 20, "d": 5, "eta": 0.6, "prompts": 4096}},
    rivals=(
        *off_by_20_percent(_construction_predict),
        Rival("sum form eta/n", lambda cfg: _construction_predict({**cfg, "eta": cfg["eta"] / cfg["n"]}),
              "the layer read as the sum-form step (attention not divided by n)"),
        Rival("P transposed", lambda cfg: _construction_predict({**cfg, "P": cfg["P"].T}),
              "the preconditioner transposed (W_KQ = [[eta P, 0], [0, 0]] read the other way round)"),
    ),
)


register(STEP_SIZE, PRECONDITIONER, NONLINEAR, TRAINED_RISK, STATIONARY, STEP_ARGMIN, RISK_CURVE, GD_CONSTRUCTION)
