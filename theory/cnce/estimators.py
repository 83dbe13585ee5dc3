r"""Bias and variance of MECO's estimators in the Gaussian family (closed forms, float64).

* :func:`ma_stationary_variance`: the moving average :math:`u_t = (1-\gamma)u_{t-1} + \gamma X_t` of iid inputs of
  variance :math:`s^2` has stationary variance :math:`\gamma s^2/(2-\gamma)`.
* :func:`meco_gradient_bias`: the bias of MECO's gradient at a fixed :math:`\theta` from the moving-average inner
  estimate, to second order in :math:`1/m`: with :math:`a = (r/Z)\nabla\log\tilde p`, :math:`b = r/Z - 1` and
  :math:`\chi^2 = e^{\sigma^2}-1`,

  .. math::

      \mathbb E[G] - \nabla F = -\frac{\gamma\,\mathbb E[ab]}{m} + \frac{\gamma^2\,\mathbb E[ab^2]
      - 3\gamma^3\chi^2\mathbb E[ab] - 3\gamma^2(1-\gamma)^2\chi^2\mathbb E[ab]/(2-\gamma)}{m^2} + O(m^{-3})

  in the shift parameterisation (where :math:`\mathbb E a = 0`); :math:`\gamma = 1` is the plug-in
  (self-normalised importance sampling) bias.
* :func:`meco_stationary_mse`: the stationary mean squared error of MECO (:math:`\beta = 1`, natural
  parameterisation) from the linearised joint dynamics of :math:`(\theta_t, u_t)`: the inner estimate lags
  :math:`Z(\theta)` and couples back into the step (docs/cnce.md, "Variance and bias of the estimators").

References:
    Jiang et al., ICML 2023 (arXiv 2306.07485), the dependence of the rate on the noise through the estimators'
    variance; the expansions are derived in docs/cnce.md, "Variance and bias of the estimators".
"""

from __future__ import annotations

import math

import numpy as np

from theory._validation import check_choice, check_int, check_real
from theory.cnce.gaussian import PARAMETERISATIONS

__all__ = ["ma_stationary_variance", "weighted_score_moment", "meco_gradient_bias", "meco_stationary_mse"]

_GH_X, _GH_W = np.polynomial.hermite_e.hermegauss(80)
_GH_W = _GH_W / math.sqrt(2 * math.pi)


def ma_stationary_variance(gamma, variance):
    r""":math:`\gamma s^2/(2-\gamma)`, the stationary variance of the moving average of iid inputs of variance
    :math:`s^2` (the fixed point of :math:`V = (1-\gamma)^2 V + \gamma^2 s^2`)."""
    g = check_real("gamma", gamma, low=0.0, low_open=True, high=1.0)
    s2 = check_real("variance", variance, low=0.0)
    return g * s2 / (2.0 - g)


def weighted_score_moment(k, theta, noise_mean=0.0, *, parameterisation="shift"):
    r""":math:`\mathbb E_q[(r/Z)^k\,\nabla\log\tilde p] = e^{k(k-1)\sigma^2/2}\,\mathbb E_{N(k\theta+(1-k)\mu_q,1)}
    [\nabla\log\tilde p]`: :math:`e^{k(k-1)\sigma^2/2}(k-1)(\theta-\mu_q)` (shift) or
    :math:`e^{k(k-1)\sigma^2/2}(k\theta+(1-k)\mu_q)` (natural), 1-D."""
    check_choice("parameterisation", parameterisation, PARAMETERISATIONS)
    k = check_int("k", k, low=0)
    t, mu = check_real("theta", theta), check_real("noise_mean", noise_mean)
    centre = k * t + (1 - k) * mu
    mean = centre - t if parameterisation == "shift" else centre
    return math.exp(0.5 * k * (k - 1) * (t - mu) ** 2) * mean


def meco_gradient_bias(theta, noise_mean=0.0, *, gamma, num_noise, order=2):
    r"""The bias of MECO's stochastic gradient at a fixed :math:`\theta` (shift parameterisation, stationary
    moving average; see the module docstring), to first (``order=1``: :math:`-\gamma\,\mathbb E[ab]/m`,
    :math:`\mathbb E[ab] = e^{\sigma^2}(\theta-\mu_q)`) or second order in :math:`1/m`.

    At :math:`\sigma = 0.5`, :math:`m = 10`: -0.0063656 (:math:`\gamma = 0.1`), -0.061342 (:math:`\gamma = 1`, the
    plug-in), against the first-order -0.0064201 and -0.064201.
    """
    g = check_real("gamma", gamma, low=0.0, low_open=True, high=1.0)
    m = check_int("num_noise", num_noise, low=1)
    order = check_choice("order", order, (1, 2))
    t, mu = check_real("theta", theta), check_real("noise_mean", noise_mean)
    mk = [weighted_score_moment(k, t, mu, parameterisation="shift") for k in range(4)]
    ab = mk[2] - mk[1]
    ab2 = mk[3] - 2 * mk[2] + mk[1]
    chi2 = math.expm1((t - mu) ** 2)
    first = -g * ab / m
    if order == 1:
        return first
    return first + (g * g * ab2 - 3 * g**3 * chi2 * ab - 3 * g * g * (1 - g) ** 2 * chi2 * ab / (2 - g)) / m**2


def _natural_noise(theta, mu, batch_size, num_noise):
    """(Var of the gradient's noise, Var of delta = g_hat / Z - 1, their covariance) at theta (natural, 1-D)."""
    e = np.exp((theta - mu) ** 2)
    var_g = 1.0 / batch_size + (e * (1 + (2 * theta - mu) ** 2) - theta**2) / num_noise
    return var_g, (e - 1) / num_noise, (e * (2 * theta - mu) - theta) / num_noise


def meco_stationary_mse(data_mean, noise_mean=0.0, *, lr, gamma, batch_size, num_noise, coupled=True):
    r"""The stationary :math:`\mathbb E(\theta_t - R)^2` of MECO with :math:`\beta = 1` (natural parameterisation,
    data :math:`N(R, 1)`, noise :math:`N(\mu_q, 1)`).

    Linearised dynamics, :math:`e_t = \theta_t - R`, :math:`\omega_t = u_{t+1}/Z(\theta_t) - 1`:

    .. math::

        \omega_t &= (1-\gamma)(\omega_{t-1} + \eta R\,G_{t-1}) + \gamma\delta_t, \\
        G_t &= e_t - R\,\omega_t + \zeta_t,\qquad e_{t+1} = e_t - \eta G_t,

    with :math:`\delta_t = \hat g_t/Z - 1` and :math:`\zeta_t` the gradient noise (variances and covariance in
    closed form, averaged over the stationary spread of :math:`\theta`, solved to a fixed point); the discrete
    Lyapunov equation gives :math:`\mathrm{Var}(e)`, and the offset :math:`\gamma\,\mathrm{Cov}(\zeta, \delta)` is
    added squared. ``coupled=False`` drops the lag coupling (:math:`\omega \equiv 0`): the exact-:math:`Z`
    value :math:`\eta\,\mathbb E\,\mathrm{Var}(G)/(2-\eta)`. Returns ``inf`` where the fixed point runs away
    (the stationary spread reaches the :math:`e^{\theta^2}` tail of the noise moments: no stationary regime).
    """
    import scipy.linalg

    R, mu = check_real("data_mean", data_mean), check_real("noise_mean", noise_mean)
    eta = check_real("lr", lr, low=0.0, low_open=True, high=1.0, high_open=True)
    g = check_real("gamma", gamma, low=0.0, low_open=True, high=1.0)
    B, m = check_int("batch_size", batch_size, low=1), check_int("num_noise", num_noise, low=1)
    ve = 0.0
    for _ in range(200):
        th = R + math.sqrt(ve) * _GH_X
        with np.errstate(over="ignore", invalid="ignore"):
            vz, vd, cov = (float(np.sum(_GH_W * a)) for a in _natural_noise(th, mu, B, m))
        if not all(map(math.isfinite, (vz, vd, cov))) or ve > 0.25:
            return math.inf  # the spread reaches the e^{theta^2} tail: no stationary regime
        if not coupled:
            new = eta * vz / (2 - eta)
        else:
            # state (e_t, omega_{t-1}, G_{t-1}); noise (delta_t, zeta_t)
            a_om, n_om = np.array([0.0, 1 - g, (1 - g) * eta * R]), np.array([g, 0.0])
            a_g, n_g = np.array([1.0, 0.0, 0.0]) - R * a_om, np.array([0.0, 1.0]) - R * n_om
            a_e, n_e = np.array([1.0, 0.0, 0.0]) - eta * a_g, -eta * n_g
            A, N = np.vstack([a_e, a_om, a_g]), np.vstack([n_e, n_om, n_g])
            Q = np.array([[vd, cov], [cov, vz]])
            new = float(scipy.linalg.solve_discrete_lyapunov(A, N @ Q @ N.T)[0, 0])
        if not math.isfinite(new) or new > 1e6:
            return math.inf
        if abs(new - ve) <= 1e-13 * max(new, 1e-300):
            ve = new
            break
        ve = new
    offset = g * _natural_noise(R, mu, B, m)[2] if coupled else 0.0
    return ve + offset**2
