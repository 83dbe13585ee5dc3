"""Shared test configuration: hypothesis profiles and float64 for exact mathematics."""

import os

from tests.xla_env import use_test_flags

use_test_flags()  # before JAX starts its backend: faster CPU compilation (tests/xla_env.py)

import jax  # noqa: E402
import pytest  # noqa: E402
import threadpoolctl  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

# One BLAS thread per test process: the test workers already take one core each, and a threaded OpenBLAS on a
# loaded 2-core machine makes small eigendecompositions up to 100x slower (threadpoolctl comes with scikit-learn).
threadpoolctl.threadpool_limits(1)

# JAX compiles on the first call of each shape, so hypothesis deadlines are meaningless here.
settings.register_profile(
    "dev", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile(
    "ci", deadline=None, max_examples=20, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(autouse=True, scope="session")
def _compile_cache_in_a_temporary_folder(tmp_path_factory):
    """The persistent compilation cache, shared by the test workers of this run and never the user's: a
    function compiled by one worker (a simulator at the smoke claims' shapes, say) is read back by the other
    (the experiment scripts at smoke scale), and ``theory verify`` in the CLI tests uses the same folder."""
    from theory.verify.cache import ENV_VAR, enable_compile_cache

    base = tmp_path_factory.getbasetemp()
    folder = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "jax-compile-cache"
    os.environ[ENV_VAR] = str(folder)
    enable_compile_cache(folder)


@pytest.fixture
def x64():
    """Run the test body with JAX float64 enabled (never flipped globally)."""
    with jax.enable_x64(True):
        yield


@pytest.fixture(scope="module")
def smoke(request):
    """One recorded smoke run of the test module's ``CLAIMS`` (``{id: Claim}``): ``(report, {id: measurement})``."""
    from tests.claims_harness import record_smoke

    return record_smoke(request.module.CLAIMS)


@pytest.fixture(scope="module")
def default_run(request):
    """One default-scale run (seed 0) of the test module's ``CLAIMS``: ``{id: verdict}``."""
    from tests.claims_harness import record_default

    return record_default(request.module.CLAIMS)


def pytest_generate_tests(metafunc):
    """``default_claim_id``: one test per claim of the module's ``CLAIMS``."""
    if "default_claim_id" in metafunc.fixturenames and hasattr(metafunc.module, "CLAIMS"):
        metafunc.parametrize("default_claim_id", list(metafunc.module.CLAIMS))


def pytest_collection_modifyitems(config, items):
    """Run the slow tests (the default-scale run of every claim) first, so that with one worker per core the
    longest file starts at once instead of last (the sort is stable: the other tests keep their order)."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
