"""Shared test configuration: hypothesis profiles and float64 for exact mathematics."""

import os

from tests.xla_env import own_cores, use_test_flags

# before JAX starts its backend and thread pools: each test worker on its own share of the cores, and XLA flags
# for faster CPU compilation (tests/xla_env.py)
use_test_flags(one_core=own_cores())

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


#: The work units in the order the two CI workers should start them: longest first (worker seconds of one
#: run on 2 cores: ldr 168, moe 145, compsum 120, icl 116, aggregate 63, cnce 59, ensloss 56, the sharding
#: subprocesses 33, inductive_bias 27, the loss registry 27, the engine 19; everything else is under 10 s).
#: Only the order matters: with units this coarse, starting a long one last leaves one worker idle at the end.
LONGEST_FIRST = ("ldr", "moe", "compsum", "icl", "aggregate", "cnce", "ensloss", "tests/test_sharding.py",
                 "inductive_bias", "tests/test_losses.py", "verify")


def pytest_collection_modifyitems(config, items):
    """Order the tests so that the workers start the longest work units first (:data:`LONGEST_FIRST`), and
    within a unit run the slow tests (the default-scale run of every claim) first. The sorts are stable: the
    other tests keep their order, so a topic's figure scripts still run after its smoke-scale claims."""
    rank = {scope: i for i, scope in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: (rank.get(_topic_scope(item.nodeid), len(rank)),
                                 item.get_closest_marker("slow") is None))


def _topic_scope(nodeid: str) -> str:
    """The work unit of a test under ``--dist loadfile``: a topic's tests (``tests/<topic>/...``) and its doctests
    (``theory/<topic>/...``) form one unit, any other file is a unit of its own."""
    path = nodeid.split("::", 1)[0]
    parts = path.split("/")
    if len(parts) > 2 and parts[0] in ("tests", "theory"):
        return parts[1]
    return path


def pytest_xdist_make_scheduler(config, log):
    """Under ``--dist loadfile`` (the default ``addopts``), send each topic's test files and doctests to one worker.

    A topic's tests share compiled programs: its figure scripts run the experiments of its smoke-scale claims
    at the same shapes, and its unit tests call the simulators its claims call. JAX keeps compiled programs per
    process, so spreading one topic's files over two workers compiles them twice (the moe figure scripts take
    15 s in a fresh process and 4 s after the moe smoke run). The topics are large enough to balance two workers.
    """
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    config.option.loadscopereorder = False  # keep the order of pytest_collection_modifyitems

    class TopicScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid):
            return _topic_scope(nodeid)

    return TopicScheduling(config, log)
