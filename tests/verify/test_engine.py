"""The verification engine itself: comparisons that pass and fail, the runner, the report, the CLI."""

import dataclasses
import json
import os
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from theory import cli, verify
from theory.verify import Claim, Measurement, Rival, agrees, holds, rate, rivals


def _mc_mean(key, cfg):
    """A true Monte Carlo claim: the mean of Uniform(0, 1) draws."""
    rng = verify.numpy_rng(key)
    return Measurement.from_replicates(rng.uniform(size=cfg["reps"]))


MEAN = Claim(
    id="demo.mean",
    topic="demo",
    reference="textbook",
    statement="E[U] = 1/2 for U ~ Uniform(0, 1).",
    predict=lambda cfg: 0.5,
    measure=_mc_mean,
    compare=agrees(4),
    configs={"smoke": {"reps": 2000}, "default": {"reps": 20000}},
    rivals=rivals.off_by_20_percent(lambda cfg: 0.5),
)


def test_true_claim_passes():
    v = verify.run_claim(MEAN, scale="smoke")
    assert v.passed and v.kind == "agrees" and v.claim_id == "demo.mean"
    assert v.ci_low < 0.5 < v.ci_high
    assert v.margin > 0 and v.worst < 1


@pytest.mark.parametrize("wrong", [0.45, 0.55, 0.5 * 1.25])
def test_wrong_prediction_fails(wrong):
    v = verify.run_claim(dataclasses.replace(MEAN, predict=lambda cfg: wrong), scale="smoke")
    assert not v.passed and v.worst > 1


def test_agrees_allowance_is_added_to_the_statistical_margin():
    m = Measurement.exact(1.0)
    assert not agrees(4)(1.001, m).passed
    assert agrees(4, atol=2e-3, reason="stated")(1.001, m).passed
    assert agrees(4, rtol=2e-3)(1.001, m).passed


def test_agrees_nan_fails():
    assert not agrees(4, atol=1.0)(0.0, Measurement.exact(np.nan)).passed


def test_holds_with_one_violating_sample_fails():
    est = np.linspace(0, 1, 1001)
    bound = est + 0.1
    assert holds("<=")(bound, Measurement.exact(est)).passed
    bad = bound.copy()
    bad[517] = est[517] - 1e-6
    v = holds("<=")(bad, Measurement.exact(est))
    assert not v.passed and v.worst == pytest.approx(1 + 1e-6 / est[517])
    assert v.estimate == est[517] and "element 517" in v.reason
    assert holds("<=", atol=2e-6)(bad, Measurement.exact(est)).passed


def test_holds_greater_equal_direction():
    assert holds(">=")(np.zeros(3), Measurement.exact([0.0, 1.0, 2.0])).passed
    assert not holds(">=")(np.ones(3), Measurement.exact([0.0, 1.0, 2.0])).passed
    with pytest.raises(ValueError, match="relation"):
        holds("<")


def test_rate_inside_and_outside_the_band():
    ns = np.array([100, 200, 400, 800, 1600, 3200])
    rng = np.random.default_rng(0)
    reps = 400
    values = ns[None, :] ** -0.5 * (1 + 0.05 * rng.standard_normal((reps, len(ns))))
    meas = Measurement.from_replicates(values, inputs={"n": ns})
    ok = rate(0.02)(-0.5, meas)
    assert ok.passed and ok.ci_low < -0.5 < ok.ci_high
    assert not rate(0.02)(-1.0, meas).passed
    assert not rate(0.02)(-0.5 * 1.25, meas).passed


def test_rate_on_exact_points_uses_residuals():
    eps = np.geomspace(1e-6, 1e-2, 9)
    meas = Measurement.exact(np.sqrt(eps), inputs={"eps": eps})
    assert rate(0.01, x="eps", k_se=0)(0.5, meas).passed
    assert not rate(0.01, x="eps", k_se=0)(0.52, meas).passed


def test_rate_needs_its_abscissae():
    with pytest.raises(ValueError, match="inputs"):
        rate(0.1)(1.0, Measurement.exact([1.0, 2.0]))


def test_confidence_interval():
    m = Measurement.from_replicates(np.arange(10.0))
    lo, hi = m.confidence_interval(0.95)
    assert lo < 4.5 < hi
    lo99, hi99 = m.confidence_interval(0.99)
    assert lo99 < lo and hi99 > hi
    with pytest.raises(ValueError, match="level"):
        m.confidence_interval(1.5)


def test_inputs_reach_the_prediction():
    claim = Claim("demo.inputs", "demo", "r", "s", predict=lambda cfg: 2 * cfg["x"],
                  measure=lambda key, cfg: Measurement.exact(np.arange(3.0) * 2, inputs={"x": np.arange(3.0)}),
                  compare=agrees(0, atol=1e-15))
    assert verify.run_claim(claim, scale="smoke").passed


def test_a_raising_claim_is_a_failed_verdict():
    def boom(key, cfg):
        raise RuntimeError("simulator exploded")

    v = verify.run_claim(dataclasses.replace(MEAN, measure=boom), scale="smoke")
    assert not v.passed and "simulator exploded" in v.error


def test_run_is_deterministic_given_the_seed():
    a = verify.run([MEAN], scale="smoke", seed=3)
    b = verify.run([MEAN], scale="smoke", seed=3)
    c = verify.run([MEAN], scale="smoke", seed=4)
    assert a.verdicts[0].estimate == b.verdicts[0].estimate
    assert a.verdicts[0].estimate != c.verdicts[0].estimate


def test_claims_of_one_group_share_their_key_whatever_the_order():
    other = dataclasses.replace(MEAN, id="demo.other")
    a, b = (dataclasses.replace(c, group="demo.shared") for c in (MEAN, other))
    forward = verify.run([a, b], scale="smoke", seed=3).verdicts
    backward = verify.run([b, a], scale="smoke", seed=3).verdicts
    assert forward[0].estimate == forward[1].estimate == backward[0].estimate == backward[1].estimate
    ungrouped = verify.run([MEAN, other], scale="smoke", seed=3).verdicts
    assert ungrouped[0].estimate != ungrouped[1].estimate


def test_scale_configs_fall_back_to_smaller_scales():
    assert MEAN.config("paper") == {"reps": 20000}
    with pytest.raises(ValueError, match="scale"):
        MEAN.config("huge")
    with pytest.raises(ValueError, match="scale"):
        verify.run([MEAN], scale="huge")
    with pytest.raises(ValueError, match="seed"):
        verify.run([MEAN], seed=-1)


def test_report_json_and_markdown(tmp_path):
    report = verify.run([MEAN, dataclasses.replace(MEAN, id="demo.wrong", predict=lambda cfg: 0.7)], scale="smoke")
    assert not report.passed and [v.claim_id for v in report.failed] == ["demo.wrong"]
    data = json.loads(report.to_json(tmp_path / "r.json"))
    assert json.loads((tmp_path / "r.json").read_text()) == data
    assert [v["claim_id"] for v in data["verdicts"]] == ["demo.mean", "demo.wrong"]
    assert [v["passed"] for v in data["verdicts"]] == [True, False]
    for key in ("kind", "prediction", "estimate", "ci_low", "ci_high", "margin", "reason", "seconds_compile",
                "seconds_run", "reference", "statement"):
        assert key in data["verdicts"][0]
    assert data["scale"] == "smoke" and data["seed"] == 0 and "jax" in data["environment"]
    md = report.to_markdown(tmp_path / "r.md")
    assert "| demo.mean |" in md and "FAIL" in md
    assert "demo.mean" in report.table() and "1/2 claims PASS, 0 INCONCLUSIVE, 1 FAIL" in report.summary()
    assert "worker processes" not in report.summary()
    pooled = dataclasses.replace(report, environment={**report.environment, "worker_processes": 2})
    assert "summed over 2 worker processes" in pooled.summary()  # the claims' seconds exceed the wall time
    assert data["counts"] == {"PASS": 1, "INCONCLUSIVE": 0, "FAIL": 1}
    assert [v["status"] for v in data["verdicts"]] == ["PASS", "FAIL"]
    assert {r["name"] for r in data["verdicts"][0]["rivals"]} == {"x1.2", "x0.8"}
    assert set(data["verdicts"][0]["rivals"][0]) == {"name", "passed", "worst", "why"}


def test_registry_rejects_duplicates_and_unknown_topics():
    with pytest.raises(TypeError):
        verify.register("not a claim")
    with pytest.raises(ValueError, match="unknown topic"):
        verify.claims(["nope"])
    ids = [c.id for c in verify.claims("compsum")]
    assert len(ids) == len(set(ids)) >= 6
    claim = verify.claims("compsum")[0]
    verify.register(claim)  # the same object again is fine
    with pytest.raises(ValueError, match="twice"):
        verify.register(dataclasses.replace(claim))


def test_claims_are_frozen_dataclasses_with_the_public_fields():
    for c in verify.claims():
        assert dataclasses.is_dataclass(c)
        for field in ("id", "topic", "reference", "statement", "predict", "measure", "compare"):
            assert getattr(c, field) is not None
        assert c.compare.kind in ("agrees", "holds", "rate")
        with pytest.raises(dataclasses.FrozenInstanceError):
            c.id = "x"


def test_cli_exit_codes(monkeypatch, capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        cli.main(["verify", "nope"])
    assert e.value.code == 2
    with pytest.raises(SystemExit) as e:
        cli.main(["verify", "--scale", "huge"])
    assert e.value.code == 2
    assert cli.main(["list", "compsum"]) == 0
    assert "compsum.cross_entropy" in capsys.readouterr().out

    monkeypatch.setattr(verify, "claims", lambda topics=None: [MEAN])
    assert cli.main(["verify", "--scale", "smoke"]) == 0
    assert cli.main(["verify", "compsum", "--scale", "smoke", "--json", str(tmp_path / "ok.json")]) == 0
    assert json.loads((tmp_path / "ok.json").read_text())["verdicts"][0]["passed"]
    wrong = dataclasses.replace(MEAN, predict=lambda cfg: 0.5 * 1.25)
    monkeypatch.setattr(verify, "claims", lambda topics=None: [MEAN, wrong])
    assert cli.main(["verify", "compsum", "--scale", "smoke", "--markdown", str(tmp_path / "r.md")]) == 1
    assert "FAIL" in (tmp_path / "r.md").read_text()


def test_theory_verify_compsum_exits_1_when_one_prediction_is_perturbed(monkeypatch, capsys):
    """The acceptance check: the real compsum claims, one of them with a 25%-off prediction."""
    from theory.verify import claim as registry

    (original,) = verify.claims(["compsum.cross_entropy"])
    wrong = dataclasses.replace(original, predict=lambda cfg: 1.25 * original.predict(cfg))
    monkeypatch.setitem(registry._REGISTRY, "compsum.cross_entropy", wrong)
    assert cli.main(["verify", "compsum", "--scale", "smoke"]) == 1
    out = capsys.readouterr().out
    assert "FAIL compsum.cross_entropy" in out and " 1 FAIL at scale 'smoke'" in out


def test_console_script_is_installed():
    import shutil
    import subprocess
    import sys
    from pathlib import Path

    exe = shutil.which("theory") or str(Path(sys.executable).parent / "theory")
    proc = subprocess.run([exe, "list", "compsum"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "compsum.bound_pointwise" in proc.stdout
    proc = subprocess.run([exe, "verify", "nope"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "unknown topic" in proc.stderr


def test_compsum_claims_are_deterministic_given_the_seed():
    ids = ["compsum.bound_pointwise", "compsum.gap_intercept", "compsum.adversarial_smoothing"]
    chosen = [c for c in verify.claims("compsum") if c.id in ids]
    runs = [verify.run(chosen, scale="smoke", seed=s) for s in (7, 7)]
    strip = ("seconds_compile", "seconds_run")
    a, b = ([{k: v for k, v in d.items() if k not in strip} for d in r.to_dict()["verdicts"]] for r in runs)
    assert a == b


# ---- rivals, statuses and the normalised distance ---------------------------------------------------


def test_status_is_pass_when_every_rival_is_rejected():
    v = verify.run_claim(MEAN, scale="default")
    assert v.status == "PASS" and v.passed
    assert [r["passed"] for r in v.rivals] == [False, False]
    assert all(r["worst"] > 1 for r in v.rivals)


def test_status_is_inconclusive_when_a_rival_is_accepted_too():
    weak = dataclasses.replace(MEAN, configs={"smoke": {"reps": 20}}, rivals=(
        Rival("0.51", lambda cfg: 0.51, "a value inside the noise of 20 draws"),))
    v = verify.run_claim(weak, scale="smoke")
    assert v.passed and v.status == "INCONCLUSIVE"
    assert v.nearest_rival["name"] == "0.51" and v.nearest_rival["passed"]


def test_status_is_fail_when_the_prediction_is_rejected_whatever_the_rivals():
    v = verify.run_claim(dataclasses.replace(MEAN, predict=lambda cfg: 0.6), scale="smoke")
    assert v.status == "FAIL" and not v.passed


def test_a_rival_is_judged_on_the_same_measurement_with_its_own_comparison():
    seen = []

    def measure(key, cfg):
        seen.append(key)
        return Measurement.from_replicates(np.array([-2.0, -1.0, -1.5, -2.5]))

    directional = Claim("demo.dir", "demo", "r", "Delta <= 0", predict=lambda cfg: 0.0, measure=measure,
                        compare=holds("<=", k_se=2),
                        rivals=(Rival("no effect", lambda cfg: 0.0, "Delta >= 0", compare=holds(">=", k_se=2)),))
    v = verify.run_claim(directional, scale="smoke")
    assert len(seen) == 1 and v.status == "PASS"
    assert v.rivals[0]["passed"] is False


def test_a_raising_rival_is_not_counted_as_rejected():
    def boom(cfg):
        raise RuntimeError("rival exploded")

    v = verify.run_claim(dataclasses.replace(MEAN, rivals=(Rival("boom", boom, "broken"),)), scale="smoke")
    assert v.passed and v.status == "INCONCLUSIVE" and "rival exploded" in v.rivals[0]["why"]


def test_rivals_must_be_rival_objects_with_distinct_names():
    with pytest.raises(TypeError, match="Rival"):
        dataclasses.replace(MEAN, rivals=(lambda cfg: 1.0,))
    with pytest.raises(ValueError, match="distinct"):
        dataclasses.replace(MEAN, rivals=(Rival("a", lambda c: 0, "x"), Rival("a", lambda c: 1, "y")))


@pytest.mark.parametrize("compare, pred, meas", [
    (agrees(2, atol=0.1), [1.0, 2.0], Measurement(np.array([1.05, 2.3]), 0.05, 10)),
    (agrees(0, rtol=0.1), 1.0, Measurement.exact(1.1)),
    (holds("<=", atol=0.01), [1.0, 1.0], Measurement.exact([0.5, 1.005])),
    (holds(">=", k_se=3), [0.0, 0.0], Measurement(np.array([-0.2, 1.0]), np.array([0.1, 0.1]), 8)),
    (holds("<="), [1.0, 2.0], Measurement.exact([1.0, 2.0])),
    (holds("<="), [1.0, 2.0], Measurement.exact([1.0, 2.0 + 1e-9])),
])
def test_worst_is_at_most_one_exactly_when_the_comparison_passes(compare, pred, meas):
    v = compare(pred, meas)
    assert v.passed == (v.worst <= 1)


def test_worst_is_normalised_for_rates():
    ns = np.array([100, 400, 1600, 6400])
    noise = 1 + 0.02 * np.random.default_rng(1).standard_normal((50, 4))
    meas = Measurement.from_replicates(ns[None] ** -0.5 * noise, inputs={"n": ns})
    for pred in (-0.5, -0.45, -0.6):
        v = rate(0.01, k_se=2)(pred, meas)
        assert v.passed == (v.worst <= 1) and v.worst == pytest.approx(abs(v.estimate - pred) / v.margin)


def test_holds_k_se_widens_only_by_the_standard_error():
    m = Measurement(np.array([1.09]), np.array([0.05]), 10)
    assert not holds("<=")(1.0, m).passed
    assert holds("<=", k_se=2)(1.0, m).passed
    assert not holds("<=", k_se=1)(1.0, m).passed
    with pytest.raises(ValueError, match="k_se"):
        holds("<=", k_se=-1)


def test_one_sided_rate_bounds_the_slope_from_one_side():
    ns = np.array([100, 400, 1600, 6400])
    meas = Measurement.exact(ns ** -0.5, inputs={"n": ns})
    assert rate(0.01, relation="<=", k_se=0)(-0.25, meas).passed  # decays at least as fast as n^-1/4
    assert not rate(0.01, relation="<=", k_se=0)(-0.75, meas).passed
    assert rate(0.01, relation=">=", k_se=0)(-0.75, meas).passed
    with pytest.raises(ValueError, match="relation"):
        rate(0.1, relation="<")


def test_a_failed_agreement_says_which_element_failed_and_by_how_much():
    v = agrees(0, atol=0.01)([1.0, 2.0, 3.0], Measurement.exact([1.0, 2.5, 3.0], inputs={"labels": ["a", "b", "c"]}))
    assert not v.passed and "element 1 (b)" in v.reason and "0.5" in v.reason and "1 of 3" in v.reason


def test_standard_rival_builders():
    assert [r.name for r in rivals.off_by_20_percent(lambda c: 2.0)] == ["x1.2", "x0.8"]
    assert rivals.scaled(lambda c: 2.0, 1.2).predict({}) == pytest.approx(2.4)
    assert rivals.halved(lambda c: 3.0, trivial=1.0).predict({}) == pytest.approx(2.0)
    lo, hi = rivals.slopes_around(-0.5)
    assert (lo.predict({}), hi.predict({})) == (-0.75, -0.25)


def test_rivals_built_from_the_prediction_reuse_it_within_one_judgement_only():
    calls = []

    def predict(cfg):
        calls.append(cfg["reps"])
        return np.full(3, 0.5)

    own = Rival("from the prediction", lambda cfg: 1.1 * rivals.predicted(predict, cfg), "reuses the prediction")
    claim = dataclasses.replace(MEAN, predict=predict, rivals=(*rivals.off_by_20_percent(predict), own,
                                                                 rivals.halved(predict)))
    v = verify.run_claim(claim, scale="smoke")
    assert v.passed and v.status == "PASS" and len(calls) == 1  # one prediction for the claim and its 4 rivals
    assert [r["worst"] > 1 for r in v.rivals] == [True] * 4
    verify.run_claim(claim, scale="smoke")
    assert len(calls) == 2  # a new judgement predicts afresh
    rivals.scaled(predict, 2.0).predict({"reps": 1})
    rivals.scaled(predict, 2.0).predict({"reps": 1})
    assert len(calls) == 4  # outside the runner nothing is memoised
    with rivals.reusing_predictions():
        shared = rivals.predicted(predict, {"reps": 7})
        with pytest.raises(ValueError, match="read-only"):
            shared[0] = 1.0  # no rival can change what the others see


def test_claims_can_be_selected_by_id():
    chosen = verify.claims(["compsum.cross_entropy"])
    assert [c.id for c in chosen] == ["compsum.cross_entropy"]
    both = verify.claims(["compsum.cross_entropy", "icl"])
    assert both[0].id == "compsum.cross_entropy" and {c.topic for c in both} == {"compsum", "icl"}
    with pytest.raises(ValueError, match="unknown claim"):
        verify.claims(["compsum.nope"])


def test_run_claim_rejects_what_is_not_a_claim():
    with pytest.raises(TypeError, match="Claim"):
        verify.run_claim("compsum.cross_entropy")
    with pytest.raises(TypeError, match="Claim"):
        verify.run(["compsum.cross_entropy"])


def test_cli_exits_3_when_a_claim_is_inconclusive(monkeypatch, capsys):
    weak = dataclasses.replace(MEAN, configs={"smoke": {"reps": 20}}, rivals=(Rival("0.51", lambda c: 0.51, "noise"),))
    monkeypatch.setattr(verify, "claims", lambda topics=None: [weak])
    assert cli.main(["verify", "--scale", "smoke"]) == 3
    out = capsys.readouterr().out
    assert "INCONCLUSIVE" in out and "0.51 accepted" in out


def test_cli_checks_output_paths_and_seed_before_running(monkeypatch, tmp_path, capsys):
    def never(*a, **k):
        raise AssertionError("the run started")

    monkeypatch.setattr(verify, "run", never)
    for argv in (["verify", "compsum", "--json", str(tmp_path / "missing" / "r.json")],
                 ["verify", "compsum", "--markdown", str(tmp_path)],
                 ["verify", "--seed", "-1"], ["verify", "--seed", "x"], ["verify", "compsum.nope"]):
        with pytest.raises(SystemExit) as e:
            cli.main(argv)
        assert e.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "error" in err, err


def test_cli_version_and_verbatim_statements(capsys):
    import theory

    with pytest.raises(SystemExit) as e:
        cli.main(["--version"])
    assert e.value.code == 0 and theory.__version__ in capsys.readouterr().out
    assert cli.main(["list", "icl.gd_construction"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "[[eta P^T, 0], [0, 0]]" in out.replace("│ ", "").replace(" │", "")


def test_deprecated_shared_experiment_memoises_within_a_run_only():
    calls = []

    def measure(key, cfg):
        with pytest.warns(DeprecationWarning):
            value = verify.shared_experiment("demo.exp", key, cfg, lambda k, c: calls.append(1) or 1.0)
        return verify.Measurement(np.array([value]), np.array([1.0]))

    group = [verify.Claim(id=f"demo.c{i}", topic="demo", reference="r", statement="s", predict=lambda c: 1.0,
                          measure=measure, compare=verify.agrees(), group="demo.g") for i in range(2)]
    verify.run(group, scale="smoke", seed=0)
    assert calls == [1]


def _grouped_claims(calls: list, n: int = 3):
    def run_experiment(key, cfg):
        calls.append(cfg)
        return float(jax.random.normal(key))

    experiment = verify.Experiment("t.shared", run_experiment)

    def measure(key, cfg, shared):
        return verify.Measurement(np.array([shared]), np.array([1.0]))

    return [verify.Claim(id=f"t.c{i}", topic="t", reference="r", statement="s", predict=lambda c: 0.0,
                         measure=measure, compare=verify.agrees(k_se=4), experiment=experiment,
                         configs={"smoke": {"n": 1}}) for i in range(n)]


def test_a_shared_experiment_is_measured_once_per_run_and_seen_by_every_claim_of_its_group():
    calls: list = []
    group = _grouped_claims(calls)
    report = verify.run(group, scale="smoke", seed=0)
    assert len(calls) == 1
    assert len({v.estimate for v in report.verdicts}) == 1
    assert all(c.group == "t.shared" for c in group)
    verify.run(group, scale="smoke", seed=1)  # a new run measures afresh: nothing is cached globally
    assert len(calls) == 2


def test_a_grouped_claim_run_alone_measures_the_same_value_as_in_the_group():
    calls: list = []
    group = _grouped_claims(calls)
    together = verify.run(group, scale="smoke", seed=3).verdicts[-1].estimate
    alone = verify.run_claim(group[-1], scale="smoke", seed=3).estimate
    assert alone == together


def test_shared_experiment_still_works_but_warns_deprecated():
    with pytest.warns(DeprecationWarning, match="Experiment"):
        assert verify.shared_experiment("t.x", jax.random.key(0), {}, lambda k, c: 7) == 7


def test_experiment_rejects_a_non_callable_run_and_claim_rejects_a_non_experiment():
    with pytest.raises(TypeError, match="run must be callable"):
        verify.Experiment("t.x", 3)
    with pytest.raises(TypeError, match="experiment must be an Experiment"):
        verify.Claim(id="t.c", topic="t", reference="r", statement="s", predict=lambda c: 0.0,
                     measure=lambda k, c: None, compare=verify.agrees(), experiment="t.x")


def test_an_experiment_with_config_keys_is_shared_by_claims_whose_configs_differ_elsewhere():
    calls: list = []
    experiment = verify.Experiment("t.protocol", lambda key, cfg: calls.append(dict(cfg)) or 1.0,
                                   config_keys=("steps",))

    def measure(key, cfg, shared):
        return verify.Measurement(np.array([shared]), np.array([1.0]))

    group = [verify.Claim(id=f"t.p{i}", topic="t", reference="r", statement="s", predict=lambda c: 1.0,
                          measure=measure, compare=verify.agrees(), experiment=experiment,
                          configs={"smoke": {"steps": 5, "point": i}}) for i in range(3)]
    assert all(v.passed for v in verify.run(group, scale="smoke").verdicts)
    assert calls == [{"steps": 5}]


def test_compile_cache_folder_follows_the_environment_and_the_platform(monkeypatch, tmp_path):
    from theory.verify import cache

    monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "here"))
    assert cache.default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv(cache.ENV_VAR)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setattr(cache.sys, "platform", "linux")
    assert cache.default_cache_dir() == tmp_path / "xdg" / "theory" / "jax"


def test_compile_cache_writes_compiled_functions_and_the_flag_leaves_jax_alone(monkeypatch, tmp_path):
    """``enable_compile_cache`` points JAX at the folder and a compile lands there; ``--no-compile-cache`` keeps
    JAX's setting as it was; an unwritable folder leaves the cache off instead of failing the run."""
    from theory.verify import cache

    before = jax.config.jax_compilation_cache_dir
    try:
        monkeypatch.setattr(cache, "MIN_COMPILE_SECONDS", 0.0)
        assert cache.enable_compile_cache(tmp_path / "c") == tmp_path / "c"
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "c")
        jax.jit(lambda x: jnp.sin(x) * 3.25 + jnp.cos(x) ** 7)(jnp.arange(17.0)).block_until_ready()
        assert any((tmp_path / "c").iterdir())
        jax.config.update("jax_compilation_cache_dir", before)
        monkeypatch.setenv(cache.ENV_VAR, str(tmp_path / "elsewhere"))
        monkeypatch.setattr(verify, "run", lambda *a, **k: verify.Report([], "smoke", 0, 0.0))
        assert cli.main(["verify", "compsum.cross_entropy", "--scale", "smoke", "--no-compile-cache"]) == 0
        assert jax.config.jax_compilation_cache_dir == before and not (tmp_path / "elsewhere").exists()
        assert cli.main(["verify", "compsum.cross_entropy", "--scale", "smoke"]) == 0
        assert jax.config.jax_compilation_cache_dir == str(tmp_path / "elsewhere")
        blocked = tmp_path / "file"
        blocked.write_text("")
        assert cache.enable_compile_cache(blocked / "sub") is None
    finally:
        jax.config.update("jax_compilation_cache_dir", before)
        cache._reset_jax_cache()  # the rest of the session compiles as before


LEVEL, LEGACY = "--xla_backend_optimization_level=1", "--xla_cpu_use_fusion_emitters=false"


@pytest.mark.parametrize(("platforms", "flags", "running", "accepted", "expected"), [
    ("cpu", "--xla_force_host_platform_device_count=8", False, True,
     f"--xla_force_host_platform_device_count=8 {LEVEL} {LEGACY}"),
    ("", "", False, True, f"{LEVEL} {LEGACY}"),  # no accelerator plugin in the test environment
    ("cpu", "", False, False, LEVEL),  # an XLA without the legacy emitters' flag
    ("cpu", "--xla_backend_optimization_level=3", False, True, f"--xla_backend_optimization_level=3 {LEGACY}"),
    ("cpu", "--xla_cpu_use_fusion_emitters=true", False, True, f"--xla_cpu_use_fusion_emitters=true {LEVEL}"),
    ("cpu", f"{LEGACY} {LEVEL[:-1]}2", False, True, f"{LEGACY} {LEVEL[:-1]}2"),
    ("cuda", "", False, True, ""),
    ("cpu", "", True, True, ""),
])
def test_commands_compile_cpu_code_at_llvm_level_1_with_the_legacy_emitters_unless_told_otherwise(
        platforms, flags, running, accepted, expected, monkeypatch):
    """Level 1, and the legacy emitters where XLA knows their flag, on a CPU-only installation, before the backend
    starts; a flag already in XLA_FLAGS, a possible accelerator or a running backend leave XLA_FLAGS as it was."""
    from jax._src import xla_bridge

    monkeypatch.setenv("JAX_PLATFORMS", platforms)
    monkeypatch.setenv("XLA_FLAGS", flags)
    monkeypatch.setattr(xla_bridge, "backends_are_initialized", lambda: running)
    monkeypatch.setattr(cli, "_xla_accepts", lambda flag, memo_dir: accepted and flag == LEGACY[2:])
    cli._cpu_code_generation()
    assert os.environ["XLA_FLAGS"] == expected


def test_whether_xla_accepts_a_flag_is_asked_once_per_jaxlib_and_kept(monkeypatch, tmp_path):
    """One child process per flag and jaxlib version with a memo folder (none after it), one per call without; a
    memo that cannot be read is asked again and rewritten, one that cannot be written still gives the answer."""
    from importlib import metadata

    asked = []
    monkeypatch.setattr(cli, "_xla_starts_with", lambda flags: asked.append(flags) or "unknown" not in flags)
    assert cli._xla_accepts("xla_known=1", tmp_path) and cli._xla_accepts("xla_known=1", tmp_path)
    assert not cli._xla_accepts("xla_unknown=1", tmp_path) and not cli._xla_accepts("xla_unknown=1", tmp_path)
    assert asked == ["--xla_known=1", "--xla_unknown=1"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["xla-flags.json"]  # renamed into place, nothing left over
    memo = json.loads((tmp_path / "xla-flags.json").read_text())
    assert memo == {f"jaxlib {metadata.version('jaxlib')}: --xla_known=1": True,
                    f"jaxlib {metadata.version('jaxlib')}: --xla_unknown=1": False}
    (tmp_path / "xla-flags.json").write_text("not json")
    assert cli._xla_accepts("xla_known=1", tmp_path) and len(asked) == 3
    assert json.loads((tmp_path / "xla-flags.json").read_text())[f"jaxlib {metadata.version('jaxlib')}: --xla_known=1"]
    assert cli._xla_accepts("xla_known=1", None) and cli._xla_accepts("xla_known=1", None) and len(asked) == 5
    blocked = tmp_path / "file"
    blocked.write_text("")
    assert cli._xla_accepts("xla_known=1", blocked / "sub") and len(asked) == 6


def test_work_units_multiply_parallel_and_sequential_sizes():
    from theory.verify.cost import work_units

    assert work_units({"replicates": 8, "steps": 100, "lr": 0.1, "name": "x"}) == (800.0, 8.0)
    assert work_units({"sizes": (64, 128, 256), "replicates": 2}) == (2 * 448.0, 2 * 256.0)
    tasks = {"tasks": [{"replicates": 4, "steps": 10}, {"replicates": 2, "steps": 100}], "delta": 0.01}
    assert work_units(tasks) == (240.0, 4.0)
    assert work_units({"use_cache": True, "tol": 1e-3}) == (1.0, 1.0)


def test_dry_run_scales_the_measured_smoke_cost_to_the_target(monkeypatch, capsys, tmp_path):
    from theory.verify import cost

    def measure(key, cfg):
        return Measurement(estimate=np.zeros(cfg["replicates"]), ci_low=-1.0, ci_high=1.0)

    claim = Claim(id="demo.cost", topic="demo", reference="r", statement="s", measure=measure,
                  predict=lambda cfg: 0.0, compare=agrees(), rivals=(),
                  configs={"smoke": {"replicates": 4, "steps": 10}, "paper": {"replicates": 400, "steps": 50}})
    (c,) = cost.dry_run([claim], target="paper")
    assert c.time_ratio == 500.0 and c.memory_ratio == 100.0
    assert c.estimated_seconds == c.compile_seconds + 500.0 * c.run_seconds
    monkeypatch.setattr(verify, "claims", lambda names=None: [claim])
    assert cli.main(["verify", "--scale", "paper", "--dry-run", "--json", str(tmp_path / "c.json"),
                     "--no-compile-cache"]) == 0
    assert "demo.cost" in capsys.readouterr().out
    assert json.loads((tmp_path / "c.json").read_text())["claims"][0]["time_ratio"] == 500.0


def test_dry_run_counts_xla_operations_of_every_executed_call_and_scales_them():
    import jax.numpy as jnp

    from theory.verify import cost

    n = 64
    square = jax.jit(lambda a: a @ a)

    def measure(key, cfg):
        a = jnp.ones((n, n), jnp.float32)
        for _ in range(3):  # after the first call JAX dispatches in C++: the counter must still see all three
            a = square(a)
        return Measurement(estimate=np.zeros(cfg["replicates"]), ci_low=-1.0, ci_high=1.0)

    claim = Claim(id="demo.flops", topic="demo", reference="r", statement="s", measure=measure,
                  predict=lambda cfg: 0.0, compare=agrees(), rivals=(),
                  configs={"smoke": {"replicates": 4, "steps": 10}, "paper": {"replicates": 400, "steps": 50}})
    (c,) = cost.dry_run([claim], target="paper")
    assert c.launches >= 3
    assert c.flops >= 10 * 3 * 2 * n**3  # three n x n products, times the smoke steps XLA counts once
    assert c.estimated_flops == c.flops * 500.0
    device = {"flops_per_second": 1e9, "bytes_per_second": 1e18, "launch_seconds": 0.0}
    assert c.roofline_seconds(device) == pytest.approx(c.estimated_flops / 1e9)


def test_sequential_units_multiply_the_step_counts():
    from theory.verify.cost import sequential_units

    assert sequential_units({"replicates": 8, "steps": 100, "epochs": 3}) == 300.0
    assert sequential_units({"tasks": [{"steps": 10}, {"steps": 100}]}) == 100.0
    assert sequential_units({"replicates": 8}) == 1.0


# ---- local worker processes (run(..., jobs=N), theory verify --jobs) -----------------------------------------

# Cheap at smoke scale (under a second each), from two topics; the two inductive_bias claims share an experiment
# group, and the order interleaves the groups so that the report's order has to be restored.
POOLED = ["inductive_bias.chernoff_bound", "compsum.gap_intercept", "inductive_bias.ruben_bound", "compsum.sqrt_bound"]


def _registered(ids):
    found = {c.id: c for c in verify.claims(ids)}
    return [found[i] for i in ids]


def _without_timings(report):
    return [{k: v for k, v in d.items() if not k.startswith("seconds")} for d in report.to_dict()["verdicts"]]


def test_worker_processes_give_the_verdicts_of_one_process_in_the_claims_order():
    chosen = _registered(POOLED)
    seen = []
    one = verify.run(chosen, scale="smoke", seed=5)
    two = verify.run(chosen, scale="smoke", seed=5, jobs=2, progress=lambda i, n, c, v: seen.append((i, c.id, v)))
    assert [v.claim_id for v in two.verdicts] == POOLED
    assert _without_timings(two) == _without_timings(one)  # status, estimate, prediction, ci, rivals, ...
    assert sorted(i for i, _, v in seen if v is None) == sorted(i for i, _, v in seen if v is not None) == [0, 1, 2, 3]
    assert all(POOLED[i] == cid for i, cid, _ in seen)
    assert two.seconds > 0 and two.environment["worker_processes"] == 2


@pytest.mark.parametrize("jobs, error", [(0, ValueError), (-2, ValueError), (True, TypeError), (2.0, TypeError),
                                         ("2", TypeError)])
def test_run_rejects_a_bad_jobs_count(jobs, error):
    with pytest.raises(error, match="jobs"):
        verify.run([MEAN], scale="smoke", jobs=jobs)


def test_worker_processes_take_registered_claims_only(monkeypatch):
    from theory.verify import claim as registry

    (original,) = verify.claims(["compsum.sqrt_bound"])
    variant = dataclasses.replace(original, predict=lambda cfg: 0.0)
    for claims in ([MEAN], [original, variant]):
        with pytest.raises(ValueError, match="registered claims only"):
            verify.run(claims, scale="smoke", jobs=2)
    monkeypatch.setitem(registry._REGISTRY, "compsum.sqrt_bound", variant)  # a fresh process would not see it
    with pytest.raises(ValueError, match="compsum.sqrt_bound"):
        verify.run(verify.claims(["compsum.sqrt_bound"]), scale="smoke", jobs=2)


def test_longest_recorded_groups_go_first_and_unknown_ones_before_them():
    from theory.verify.runner import _longest_first

    groups = {"a": ["a"], "g": ["x", "y"], "b": ["b"], "u": ["u"], "h": ["z", "v"]}
    seconds = {"a": 1.0, "x": 2.0, "y": 3.0, "b": 4.5, "z": 9.0}  # "v" never timed: group "h" is unknown
    assert _longest_first(groups, seconds) == ["u", "h", "g", "b", "a"]
    assert _longest_first(groups, {}) == list(groups)


class _InThreads:
    """A stand-in for the process pool: runs the worker tasks in one thread, in submission order."""

    def __init__(self, submitted, broken=False):
        from concurrent.futures import ThreadPoolExecutor

        self.submitted, self.broken, self.pool = submitted, broken, ThreadPoolExecutor(max_workers=1)

    def submit(self, fn, ids, *args):
        from concurrent.futures import Future
        from concurrent.futures.process import BrokenProcessPool

        self.submitted.append(list(ids))
        if self.broken:
            future = Future()
            future.set_exception(BrokenProcessPool("terminated abruptly"))
            return future
        return self.pool.submit(fn, ids, *args)

    def shutdown(self, wait=True, cancel_futures=False):
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)


def test_claim_seconds_are_recorded_in_the_cache_folder_and_schedule_the_next_pooled_run(monkeypatch, tmp_path):
    from theory.verify import runner

    folder = jax.config.jax_compilation_cache_dir  # tests/conftest.py turns the cache on for the session
    assert folder and runner._timings_path() == Path(folder) / runner.TIMINGS_FILE
    verify.run([MEAN], scale="smoke")
    assert "demo.mean" in json.loads(runner._timings_path().read_text())["smoke"]

    timings = tmp_path / runner.TIMINGS_FILE
    timings.write_text(json.dumps({"smoke": {"compsum.sqrt_bound": 5.0, "compsum.gap_intercept": 1.0,
                                             "other.claim": 7.0}, "default": {"compsum.sqrt_bound": 60.0}}))
    monkeypatch.setattr(runner, "_timings_path", lambda: timings)
    submitted: list = []
    monkeypatch.setattr(runner, "_pool", lambda workers, settings: _InThreads(submitted))
    report = verify.run(_registered(POOLED), scale="smoke", jobs=2)
    assert submitted == [["inductive_bias.chernoff_bound", "inductive_bias.ruben_bound"], ["compsum.sqrt_bound"],
                         ["compsum.gap_intercept"]]  # never timed first, then longest first
    assert [v.claim_id for v in report.verdicts] == POOLED
    recorded = json.loads(timings.read_text())
    assert recorded["default"] == {"compsum.sqrt_bound": 60.0} and recorded["smoke"]["other.claim"] == 7.0
    assert set(recorded["smoke"]) == {*POOLED, "other.claim"} and recorded["smoke"]["compsum.sqrt_bound"] != 5.0
    timings.write_text("{not json")  # a damaged file is replaced, never fatal
    verify.run([MEAN], scale="smoke")
    assert list(json.loads(timings.read_text())["smoke"]) == ["demo.mean"]


def test_a_dead_worker_process_is_an_error_not_a_hang(monkeypatch):
    from theory.verify import runner

    monkeypatch.setattr(runner, "_pool", lambda workers, settings: _InThreads([], broken=True))
    with pytest.raises(RuntimeError, match="worker process died"):
        verify.run(_registered(POOLED), scale="smoke", jobs=2)


def test_worker_settings_carry_the_compile_cache_and_the_numeric_settings():
    from theory.verify import runner

    settings = runner._worker_settings()
    assert settings["jax_compilation_cache_dir"] == jax.config.jax_compilation_cache_dir
    assert settings["jax_enable_x64"] is False and settings["jax_default_prng_impl"] == "threefry2x32"
    with jax.enable_x64(True):
        assert runner._worker_settings()["jax_enable_x64"] is True


@pytest.mark.parametrize("argv", [["--jobs", "0"], ["--jobs", "many"], ["--jobs", "2", "--dry-run"],
                                  ["--jobs", "2", "--distributed"]])
def test_cli_jobs_usage_errors_are_one_line_with_exit_2(argv, monkeypatch, capsys):
    monkeypatch.setattr(verify, "run", lambda *a, **k: pytest.fail("the run started"))
    with pytest.raises(SystemExit) as e:
        cli.main(["verify", "compsum.sqrt_bound", "--no-compile-cache", *argv])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--jobs" in err, err


def test_cli_jobs_auto_is_one_process_per_core_on_a_cpu_and_one_on_an_accelerator(monkeypatch):
    asked = []
    monkeypatch.setattr(verify, "run", lambda *a, **k: asked.append(k["jobs"]) or verify.Report([], "smoke", 0, 0.0))
    monkeypatch.setattr(cli.os, "sched_getaffinity", lambda pid: {0, 1, 2}, raising=False)
    argv = ["verify", "compsum.sqrt_bound", "--no-compile-cache"]
    assert cli.main(argv) == 0 and cli.main([*argv, "--jobs", "auto"]) == 0
    assert cli.main([*argv, "--jobs", "7"]) == 0 and cli.main([*argv, "--jobs", "1"]) == 0
    monkeypatch.setattr(cli.os, "sched_getaffinity", lambda pid: set(range(64)))
    assert cli.main(argv) == 0
    monkeypatch.setattr(jax, "default_backend", lambda: "gpu")
    assert cli.main(argv) == 0
    assert asked == [3, 3, 7, 1, cli.MAX_AUTO_JOBS, 1]
    asked.clear()
    monkeypatch.setattr(jax, "default_backend", lambda: "cpu")
    monkeypatch.setattr(verify, "claims", lambda topics=None: [MEAN])  # not registered: stays in this process
    assert cli.main(["verify", "--no-compile-cache"]) == 0 and asked == [1]
