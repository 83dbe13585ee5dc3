"""Bags: random equal partitions, validation of user bags (overlap, cover, equal sizes), bag means."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.aggregate import bag_means, bags_from_groups, check_bags, make_bags


@pytest.mark.parametrize("n,k", [(12, 1), (12, 3), (100, 5)])
def test_make_bags_is_an_equal_partition(n, k):
    b = np.asarray(make_bags(num_samples=n, bag_size=k, key=jax.random.key(1)))
    assert b.shape == (n,)
    np.testing.assert_array_equal(np.bincount(b), np.full(n // k, k))
    info = check_bags(b, num_samples=n)
    assert info.num_bags == n // k and info.bag_size == k


def test_make_bags_is_random():
    a, b = (np.asarray(make_bags(num_samples=20, bag_size=2, key=jax.random.key(s))) for s in (0, 1))
    assert not np.array_equal(a, b)


def test_n_not_divisible_by_k_raises():
    with pytest.raises(ValueError, match="multiple of bag_size"):
        make_bags(num_samples=10, bag_size=3, key=jax.random.key(0))
    with pytest.raises(ValueError, match="bag_size"):
        make_bags(num_samples=10, bag_size=0, key=jax.random.key(0))


def test_check_bags_rejects_bad_bags():
    with pytest.raises(TypeError, match="integer"):
        check_bags([0.0, 1.0])
    with pytest.raises(ValueError, match="same size"):
        check_bags([0, 0, 1])
    assert check_bags([0, 0, 1], equal_size=False).bag_size is None
    with pytest.raises(ValueError, match="empty"):
        check_bags([0, 0, 2, 2])
    with pytest.raises(ValueError, match=">= 0"):
        check_bags([-1, 0])
    with pytest.raises(ValueError, match="num_samples=5 rows"):
        check_bags([0, 0, 1, 1], num_samples=5)
    with pytest.raises(ValueError, match="1-D"):
        check_bags([[0, 1]])


def test_bags_from_groups_rejects_overlap_gaps_and_empty_bags():
    np.testing.assert_array_equal(bags_from_groups([[0, 3], [1, 2]], num_samples=4), [0, 1, 1, 0])
    with pytest.raises(ValueError, match="overlap"):
        bags_from_groups([[0, 1], [1, 2]], num_samples=3)
    with pytest.raises(ValueError, match="overlap"):
        bags_from_groups([[0, 0], [1, 2]], num_samples=3)
    with pytest.raises(ValueError, match="cover"):
        bags_from_groups([[0, 1]], num_samples=3)
    with pytest.raises(ValueError, match="outside"):
        bags_from_groups([[0, 5]], num_samples=3)
    with pytest.raises(ValueError, match="empty"):
        bags_from_groups([[0, 1, 2], []], num_samples=3)


def test_bag_means_of_matrices_and_vectors():
    v = jnp.arange(12.0).reshape(6, 2)
    b = jnp.array([0, 1, 0, 1, 2, 2])
    np.testing.assert_allclose(bag_means(v, b, num_bags=3), [[2, 3], [4, 5], [9, 10]])
    np.testing.assert_allclose(bag_means(v[:, 0], b, num_bags=3), [2, 4, 9])


def test_deprecated_spellings_warn_and_still_work():
    with pytest.warns(DeprecationWarning, match="num_samples"):
        info = check_bags([0, 0, 1, 1], n_samples=4)
    with pytest.warns(DeprecationWarning, match="num_bags"):
        assert info.n_bags == 2
    with pytest.warns(DeprecationWarning, match="num_samples"):
        b = make_bags(n_samples=6, bag_size=3, key=jax.random.key(0))
    np.testing.assert_array_equal(b, make_bags(num_samples=6, bag_size=3, key=jax.random.key(0)))
    with pytest.warns(DeprecationWarning, match="num_samples"):
        np.testing.assert_array_equal(bags_from_groups([[0, 1]], n_samples=2), [0, 0])
    with pytest.warns(DeprecationWarning, match="num_bags"):
        np.testing.assert_allclose(bag_means(jnp.arange(4.0), jnp.array([0, 0, 1, 1]), n_bags=2), [0.5, 2.5])
    with pytest.raises(TypeError, match="num_samples"):
        check_bags([0, 0], num_samples=2, n_samples=2)  # both spellings
    with pytest.warns(DeprecationWarning, match="num_samples, bag_size"):
        np.testing.assert_array_equal(make_bags(6, 3, key=jax.random.key(0)), b)
    with pytest.warns(DeprecationWarning, match="num_samples"):
        assert check_bags([0, 0, 1, 1], 4).num_bags == 2
    with pytest.warns(DeprecationWarning, match="num_bags"):
        np.testing.assert_allclose(bag_means(jnp.arange(4.0), jnp.array([0, 0, 1, 1]), 2), [0.5, 2.5])
    with pytest.raises(TypeError, match="multiple values"):
        check_bags([0, 0], 2, num_samples=2)


def test_make_bags_needs_a_jax_key():
    with pytest.raises(TypeError, match="key"):
        make_bags(num_samples=4, bag_size=2, key=0)
