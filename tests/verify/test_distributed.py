"""Several ``jax.distributed`` processes give the report of one process, seed for seed."""

import json
import os
import socket
import subprocess
import sys

import pytest

from tests.xla_env import xla_flags
from theory import verify
from theory.cli import main
from theory.verify.distributed import gather, initialize, partition

CLAIMS = ["compsum.gap_intercept", "compsum.min_conditional_risk"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def _without_timings(verdict: dict) -> dict:
    return {k: v for k, v in verdict.items() if not k.startswith("seconds")}


def test_partition_deals_groups_round_robin_and_covers_every_claim_once():
    claims = verify.claims(["moe", "compsum"])
    shares = [partition(claims, i, 3) for i in range(3)]
    assert sorted(i for s in shares for i in s) == list(range(len(claims)))
    for s in shares:  # a shared experiment's claims stay on one process
        groups = {claims[i].group for i in s if claims[i].group}
        for other in shares:
            if other is not s:
                assert not groups & {claims[i].group for i in other if claims[i].group}


def test_partition_rejects_an_index_outside_the_process_count():
    with pytest.raises(ValueError, match="process_index"):
        partition(verify.claims(["compsum"]), 2, 2)


def test_initialize_wants_all_three_arguments_or_none():
    with pytest.raises(ValueError, match="all three or none"):
        initialize("localhost:1234", 2)
    with pytest.raises(ValueError, match="process_id"):
        initialize("localhost:1234", 2, 2)


def test_gather_on_one_process_is_the_identity():
    assert gather([(0, "a"), (1, "b")]) == [(0, "a"), (1, "b")]


@pytest.mark.parametrize("argv, message", [
    (["--num-processes", "2"], "need --distributed"),
    (["--distributed", "--num-processes", "2"], "go together"),
    (["--distributed", "--coordinator-address", "h:1", "--num-processes", "2", "--process-id", "2"], "process_id"),
    (["--distributed", "--num-processes", "0"], "positive integer"),
])
def test_distributed_usage_errors_are_one_line_with_exit_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["verify", "compsum.gap_intercept", *argv])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_two_processes_give_the_verdicts_and_estimates_of_one(tmp_path):
    port = _free_port()
    env = {**os.environ, "XLA_FLAGS": xla_flags(), "JAX_PLATFORMS": "cpu"}
    command = [sys.executable, "-m", "theory", "verify", *CLAIMS, "--scale", "smoke", "--distributed",
               "--coordinator-address", f"localhost:{port}", "--num-processes", "2", "--no-compile-cache"]
    procs = [subprocess.Popen([*command, "--process-id", str(i), "--json", str(tmp_path / f"p{i}.json")],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(2)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    assert not (tmp_path / "p1.json").exists()  # only process 0 writes
    distributed = json.loads((tmp_path / "p0.json").read_text())
    assert distributed["environment"]["processes"] == 2
    one = verify.run(verify.claims(CLAIMS), scale="smoke", seed=0).to_dict()
    assert [_without_timings(v) for v in distributed["verdicts"]] == [_without_timings(v) for v in one["verdicts"]]
