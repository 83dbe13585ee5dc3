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
