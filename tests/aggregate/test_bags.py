"""Bags: random equal partitions, validation of user bags (overlap, cover, equal sizes), bag means."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory.aggregate import bag_means, bags_from_groups, check_bags, make_bags


@pytest.mark.parametrize("n,k", [(12, 1), (12, 3), (100, 5)])
def test_make_bags_is_an_equal_partition(n, k):
    b = np.asarray(make_bags(n, k, key=jax.random.key(1)))
    assert b.shape == (n,)
    np.testing.assert_array_equal(np.bincount(b), np.full(n // k, k))
    info = check_bags(b, n)
    assert info.n_bags == n // k and info.bag_size == k


def test_make_bags_is_random():
    a, b = (np.asarray(make_bags(20, 2, key=jax.random.key(s))) for s in (0, 1))
    assert not np.array_equal(a, b)


def test_n_not_divisible_by_k_raises():
    with pytest.raises(ValueError, match="multiple of bag_size"):
        make_bags(10, 3, key=jax.random.key(0))
    with pytest.raises(ValueError, match="bag_size"):
        make_bags(10, 0, key=jax.random.key(0))


def test_check_bags_errors():
    with pytest.raises(TypeError, match="integer"):
        check_bags([0.0, 1.0])
    with pytest.raises(ValueError, match="same size"):
        check_bags([0, 0, 1])
    assert check_bags([0, 0, 1], equal_size=False).bag_size is None
    with pytest.raises(ValueError, match="empty"):
        check_bags([0, 0, 2, 2])
    with pytest.raises(ValueError, match=">= 0"):
        check_bags([-1, 0])
    with pytest.raises(ValueError, match="rows"):
        check_bags([0, 0, 1, 1], n_samples=5)
    with pytest.raises(ValueError, match="1-D"):
        check_bags([[0, 1]])


def test_bags_from_groups():
    np.testing.assert_array_equal(bags_from_groups([[0, 3], [1, 2]], 4), [0, 1, 1, 0])
    with pytest.raises(ValueError, match="overlap"):
        bags_from_groups([[0, 1], [1, 2]], 3)
    with pytest.raises(ValueError, match="overlap"):
        bags_from_groups([[0, 0], [1, 2]], 3)
    with pytest.raises(ValueError, match="cover"):
        bags_from_groups([[0, 1]], 3)
    with pytest.raises(ValueError, match="outside"):
        bags_from_groups([[0, 5]], 3)
    with pytest.raises(ValueError, match="empty"):
        bags_from_groups([[0, 1, 2], []], 3)


def test_bag_means_matrix_and_vector():
    v = jnp.arange(12.0).reshape(6, 2)
    b = jnp.array([0, 1, 0, 1, 2, 2])
    np.testing.assert_allclose(bag_means(v, b, 3), [[2, 3], [4, 5], [9, 10]])
    np.testing.assert_allclose(bag_means(v[:, 0], b, 3), [2, 4, 9])
