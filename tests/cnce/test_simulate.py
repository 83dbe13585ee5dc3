"""The training simulators: shapes, paired replicates across methods, one compile for every method, the 2-D density
fit, and the input policy."""

import jax
import numpy as np
import pytest

from theory.cnce import gaussian_mean_runs, gaussian_mean_trajectories, gradient_bias_at_fixed_theta, gradient_samples
from theory.cnce.density import fit_density_2d

KW = dict(data_mean=1.0, num_steps=300, lr=0.05, batch_size=16, num_noise=16, num_replicates=16)


def test_runs_return_per_replicate_statistics_and_converge():
    out = gaussian_mean_runs(key=jax.random.key(0), method="meco", **KW)
    assert set(out) == {"steps_to_tol", "mse", "offset", "final"}
    assert all(np.shape(v) == (16,) for v in out.values())
    assert np.median(np.abs(np.asarray(out["final"]) - 1.0)) < 0.3


def test_methods_share_their_random_numbers_and_trajectories_match_runs():
    traj = gaussian_mean_trajectories(key=jax.random.key(0), method="nce", stride=300, **KW)
    runs = gaussian_mean_runs(key=jax.random.key(0), method="nce", **KW)
    np.testing.assert_allclose(np.asarray(traj)[:, -1], np.asarray(runs["final"]), rtol=1e-5)
    # shift parameterisation from theta0 = mu_q: u starts at Z exactly and barely moves with gamma = 1e-6, so MECO
    # repeats the exact-Z run on the same draws
    a = gaussian_mean_runs(key=jax.random.key(0), method="exact", parameterisation="shift", **KW)["final"]
    b = gaussian_mean_runs(key=jax.random.key(0), method="meco", gamma=1e-6, parameterisation="shift", **KW)["final"]
    assert np.max(np.abs(np.asarray(a) - np.asarray(b))) < 0.02


def test_every_method_runs_in_both_parameterisations():
    for param in ("natural", "shift"):
        for method in ("meco", "plugin", "exact", "nce", "ence"):
            out = gaussian_mean_runs(key=jax.random.key(1), method=method, parameterisation=param,
                                     **{**KW, "num_steps": 50})  # same shapes as above: no new compile
            assert np.all(np.isfinite(np.asarray(out["final"])))


def test_bias_and_gradient_samples_shapes():
    b = gradient_bias_at_fixed_theta(key=jax.random.key(0), theta=0.5, gammas=(0.1, 1.0), num_steps=50,
                                     burn_in=10, num_replicates=4)
    assert b.shape == (4, 2)
    g = gradient_samples(key=jax.random.key(0), theta=0.0, data_mean=0.0, num_samples=1000)
    assert g.shape == (1000,) and abs(float(np.var(np.asarray(g))) - 0.25) < 0.04  # 1/8 + 1/8 at theta = R = mu_q


def test_density_fit_rejects_bad_arguments():
    """The fit itself runs in tests/cnce/test_figures.py (the density_2d figure at smoke scale)."""
    with pytest.raises(ValueError, match="method"):
        fit_density_2d(key=jax.random.key(0), method="ence")
    with pytest.raises(ValueError, match="gamma"):
        fit_density_2d(key=jax.random.key(0), method="meco", gamma=0.0)


@pytest.mark.parametrize("bad", [dict(method="sgd"), dict(gamma=0.0), dict(beta=1.5), dict(lr=0.0),
                                 dict(parameterisation="x"), dict(num_steps=0)])
def test_bad_arguments_raise(bad):
    with pytest.raises(ValueError):
        gaussian_mean_runs(key=jax.random.key(0), **{**KW, "method": "meco", **bad})
