"""The NumPy log-sum-exp of the shared log-space module (theory.logspace.np_logsumexp): SciPy's numbers, its
special values, and full relative precision when one term dominates."""

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import special

from theory.logspace import np_logsumexp

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
