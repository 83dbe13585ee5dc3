"""The test processes' XLA flags: an unknown flag is left out instead of aborting every test process."""

import pytest

from tests import xla_env


def test_a_flag_this_jaxlib_does_not_know_is_refused_and_a_known_one_accepted():
    assert not xla_env._accepted("--xla_no_such_flag_anywhere=1")
    assert xla_env._accepted("--xla_backend_optimization_level=1")


@pytest.mark.parametrize(("current", "expected"), [
    ("", "--xla_known=1"),
    ("--xla_known=3", "--xla_known=3"),  # a flag already set wins
    ("--xla_force_host_platform_device_count=2", "--xla_force_host_platform_device_count=2 --xla_known=1"),
])
def test_use_test_flags_keeps_set_flags_and_drops_unknown_ones(current, expected, monkeypatch):
    monkeypatch.setattr(xla_env, "TEST_XLA_FLAGS", {"xla_known": "1", "xla_unknown": "1"})
    monkeypatch.setattr(xla_env, "_accepted", lambda flags: "xla_unknown" not in flags)
    monkeypatch.setenv("XLA_FLAGS", current)
    xla_env.use_test_flags()
    assert xla_env.os.environ["XLA_FLAGS"] == expected


def test_subprocess_flags_replace_the_device_count(monkeypatch):
    monkeypatch.setenv("XLA_FLAGS", "--xla_known=1 --xla_force_host_platform_device_count=2")
    assert xla_env.xla_flags() == "--xla_known=1"
    assert xla_env.xla_flags(devices=8) == "--xla_known=1 --xla_force_host_platform_device_count=8"


@pytest.mark.parametrize(("cores", "workers", "shares"), [
    ({0, 1}, 2, [{0}, {1}]),
    ({0, 1, 2, 3, 4}, 2, [{0, 1}, {2, 3, 4}]),  # contiguous, every core used once
    ({3, 5}, 3, [{3}, {5}, {3}]),  # more workers than cores: one core each, round-robin
    ({0, 1, 2, 3}, 1, [{0, 1, 2, 3}]),
])
def test_core_shares_cover_the_cores_and_never_leave_a_worker_without_one(cores, workers, shares):
    assert [xla_env.core_share(cores, w, workers) for w in range(workers)] == shares


def test_own_cores_pins_a_worker_and_leaves_other_processes_alone(monkeypatch):
    pinned = []
    monkeypatch.setattr(xla_env.os, "sched_setaffinity", lambda pid, cores: pinned.append(cores), raising=False)
    monkeypatch.setattr(xla_env.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3}, raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert not xla_env.own_cores()
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "1")
    assert not xla_env.own_cores()
    assert pinned == []
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "2")
    assert not xla_env.own_cores()  # two cores each
    monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", "4")
    assert xla_env.own_cores()
    assert pinned == [{2, 3}, {1}]


def test_one_core_flags_only_in_a_process_on_one_core(monkeypatch):
    monkeypatch.setattr(xla_env, "TEST_XLA_FLAGS", {"xla_known": "1"})
    monkeypatch.setattr(xla_env, "ONE_CORE_XLA_FLAGS", {"xla_split": "1"})
    monkeypatch.setattr(xla_env, "_accepted", lambda flags: True)
    monkeypatch.setenv("XLA_FLAGS", "")
    xla_env.use_test_flags()
    assert xla_env.os.environ["XLA_FLAGS"] == "--xla_known=1"
    xla_env.use_test_flags(one_core=True)  # a worker: the inherited flags stay, the one-core flag is added
    assert xla_env.os.environ["XLA_FLAGS"] == "--xla_known=1 --xla_split=1"
