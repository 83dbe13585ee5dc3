"""The NumPy log-sum-exp of the shared log-space module (theory.logspace.np_logsumexp): SciPy's numbers, its
special values, and full relative precision when one term dominates; the module's log1p, accurate in float64 where
XLA's CPU log1p is not."""

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import special

from theory.logspace import log1p, np_logsumexp

# the same formula as SciPy's (the largest term taken out, log1p of the rest); only the order of the additions
# inside a sum may differ, a few ulps
RTOL = 8 * np.finfo(np.float64).eps

finite_rows = hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=6),
                         elements=st.floats(-700, 700))


@given(finite_rows, st.sampled_from([0, -1, None]), st.booleans())
def test_equals_scipy_logsumexp_for_any_axis_and_keepdims(x, axis, keepdims):
    expected = special.logsumexp(x, axis=axis, keepdims=keepdims)
    out = np_logsumexp(x, axis=axis, keepdims=keepdims)
    assert np.shape(out) == np.shape(expected)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=0)


@pytest.mark.parametrize(("row", "expected"), [
    ([-np.inf, -np.inf], -np.inf),  # an empty sum
    ([0.0, -np.inf], 0.0),
    ([np.inf, 1.0], np.inf),
    ([np.inf, -np.inf], np.inf),
    ([np.nan, 1.0], np.nan),
    ([1.0, np.nan], np.nan),
    ([3.0, 3.0], 3.0 + math.log(2.0)),  # a tie: one of the two largest terms is taken out, the other stays
])
def test_special_values(row, expected):
    out = np_logsumexp(np.array([row]), axis=1)
    np.testing.assert_equal(out, np.array([expected]))
    np.testing.assert_equal(out, special.logsumexp(np.array([row]), axis=1))


def test_a_dominant_term_keeps_the_relative_precision_of_the_small_ones():
    # log(e^0 + e^-40 + e^-45) = log1p(e^-40 + e^-45): about 4.3e-18, lost by log(sum) (1 + 4e-18 rounds to 1)
    out = np_logsumexp(np.array([0.0, -40.0, -45.0]))
    assert out == pytest.approx(math.log1p(math.exp(-40.0) + math.exp(-45.0)), rel=1e-15)
    assert math.log(sum(math.exp(v) for v in (0.0, -40.0, -45.0))) == 0.0


def test_integers_are_summed_in_float64():
    out = np_logsumexp(np.arange(6).reshape(2, 3), axis=1)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, np.log(np.exp(np.arange(6.0)).reshape(2, 3).sum(axis=1)), rtol=RTOL)


def _ulps(got, x, dtype):
    """|got - log1p(x)| in ulps of the result (mpmath reference at 40 digits)."""
    with mpmath.workdps(40):
        ref = np.array([float(mpmath.log1p(mpmath.mpf(float(v)))) for v in x])
    return np.abs(np.asarray(got, np.float64) - ref) / (np.abs(ref) * np.finfo(dtype).eps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_log1p_is_within_two_ulps_across_the_range_of_xlas_cpu_approximation(dtype):
    """On a grid over [-0.7, 0.5] holding -0.414 < x < -0.293, where the float64 rational approximation of XLA's CPU
    log1p is used outside its range (up to 129 ulps off, jax-ml/jax issue 39707): jitted, float32 and float64."""
    x = np.concatenate([np.linspace(-0.7, 0.5, 1201), [-0.4141892, -0.2929, -0.25, -0.2500001, -1e-9, 1e-9]])
    with jax.enable_x64(dtype == np.float64):
        x = np.asarray(jnp.asarray(x, dtype), np.float64)  # the grid as the dtype rounds it
        got = jax.jit(log1p)(jnp.asarray(x, dtype))
    assert got.dtype == dtype
    assert np.max(_ulps(got, x, dtype)) <= 2.0
