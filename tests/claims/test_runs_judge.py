"""The runs judge on planted sweep aggregates: every empirical claim reaches the verdict its
planted numbers dictate, in the regimes the runs support, and refuses to judge without runs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bntheory.claims import get_claim
from bntheory.claims.runs import NeedsRunsError, split_regime

METRICS = (
    "loss_variation",
    "predictiveness_max",
    "beta_smoothness",
    "ics_l2",
    "ics_cos",
    "mean_train_loss",
    "activation_shift",
    "saturation",
)


def summary(norm, lr, **values):
    base = {m: 1.0 for m in METRICS}
    base |= {"norm": norm, "lr": lr, "diverged_at": None, "relative_loss": 0.5}
    return base | values


def aggregate(runs_per_seed):
    """``{preset: {seed: [summary, ...]}}`` -> results.json's ``presets``."""
    return {
        name: {"per_seed": {str(k): v for k, v in seeds.items()}}
        for name, seeds in runs_per_seed.items()
    }


def planted(effect, noise=0.01, seeds=6, preset="digits", norms=("batchnorm",), **extra):
    """Per seed: none at 1 (+ noise), each norm at 1 + effect (+ noise), on every metric."""
    rng = np.random.default_rng(0)
    out = {}
    for k in range(seeds):
        rows = [summary("none", 0.5, **{m: 1.0 + noise * rng.normal() for m in METRICS})]
        for n in norms:
            rows.append(
                summary(n, 0.5, **{m: 1.0 + effect + noise * rng.normal() for m in METRICS})
            )
        out[k] = rows
    return aggregate({preset: out, **extra})


def verdicts(claim_id, presets):
    c = get_claim(claim_id)
    return {v.regime: v for v in c.judge.judge_runs(c, presets, {"profile": "test"})}


@pytest.mark.parametrize("key", ["loss-variation", "gradient-predictiveness", "beta-smoothness"])
@pytest.mark.parametrize(
    "effect, expected", [(-0.3, "supported"), (0.3, "contradicted"), (0.0, "inconclusive")]
)
def test_smoothing_claims_follow_the_planted_difference(key, effect, expected):
    noise = 0.01 if effect else 0.3
    vs = verdicts(f"santurkar2018.smoothing.{key}", planted(effect, noise))
    assert list(vs) == ["digits, lr 0.5"]
    v = vs["digits, lr 0.5"]
    assert v.verdict == expected
    assert v.evidence.level == 0.95 and len(v.evidence.samples) == 6
    if effect:
        assert v.evidence.estimate == pytest.approx(effect, abs=0.05)
        assert v.evidence.details["relative_effect"] == pytest.approx(effect, abs=0.05)
        assert math.copysign(1, v.evidence.details["dz"]) == math.copysign(1, effect)
    assert v.provenance["from"] == "runs"


def test_the_layers_preset_is_not_judged_twice_for_batchnorm_but_is_for_lp():
    presets = planted(-0.3)
    presets |= planted(-0.3, preset="layers", norms=("batchnorm", "l1batchnorm", "linfbatchnorm"))
    assert list(verdicts("santurkar2018.smoothing.loss-variation", presets)) == ["digits, lr 0.5"]
    lp = verdicts("santurkar2018.lp-normalization", presets)
    assert set(lp) == {
        f"layers, lr 0.5, {n}, {k}"
        for n in ("l1batchnorm", "linfbatchnorm")
        for k in ("loss-variation", "gradient-predictiveness", "beta-smoothness")
    }
    assert all(v.verdict == "supported" for v in lp.values())
    assert split_regime("layers, lr 0.5, l1batchnorm, loss-variation") == (
        "layers",
        0.5,
        ("l1batchnorm", "loss-variation"),
    )


def test_ics_ratio_reading():
    # BatchNorm's ICS at 1.5x none's (l2) and its 1 - cos at 1.5x: not reduced -> supported
    vs = verdicts("santurkar2018.ics", planted(0.5, noise=0.01))
    assert vs["digits, lr 0.5, l2"].verdict == "supported"
    assert vs["digits, lr 0.5, l2"].evidence.estimate == pytest.approx(1.5, abs=0.05)
    # planted cosines near 1 for none leave 1 - cos near 0: ratios of noise, or undefined
    # (dropped) where none's 1 - cos is exactly 0; the real cosine reading is tested below
    # BatchNorm halves ICS: contradicted
    rng = np.random.default_rng(1)
    rows = {
        k: [
            summary("none", 0.5, ics_l2=2.0 + 0.01 * rng.normal(), ics_cos=0.2),
            summary("batchnorm", 0.5, ics_l2=1.0 + 0.01 * rng.normal(), ics_cos=0.6),
        ]
        for k in range(5)
    }
    vs = verdicts("santurkar2018.ics", aggregate({"digits": rows}))
    assert vs["digits, lr 0.5, l2"].verdict == "contradicted"
    assert vs["digits, lr 0.5, cosine"].verdict == "contradicted"  # (1-0.6)/(1-0.2) = 0.5
    assert vs["digits, lr 0.5, cosine"].evidence.estimate == pytest.approx(0.5)


def test_noisy_batchnorm_parts():
    rng = np.random.default_rng(2)

    def row(norm, loss, shift):
        return summary(
            norm, 0.5, mean_train_loss=loss * (1 + 0.01 * rng.normal()), activation_shift=shift
        )

    rows = {
        k: [row("none", 2.0, 0.1), row("batchnorm", 1.0, 0.05), row("noisybatchnorm", 1.05, 0.4)]
        for k in range(5)
    }
    vs = verdicts("santurkar2018.noisy-batchnorm", aggregate({"digits": rows}))
    assert {r: v.verdict for r, v in vs.items()} == {
        "digits, lr 0.5, speed vs batchnorm": "supported",
        "digits, lr 0.5, speed vs none": "supported",
        "digits, lr 0.5, stability vs none": "supported",
    }
    slow = {
        k: [row("none", 2.0, 0.5), row("batchnorm", 1.0, 0.05), row("noisybatchnorm", 3.0, 0.1)]
        for k in range(5)
    }
    vs = verdicts("santurkar2018.noisy-batchnorm", aggregate({"digits": slow}))
    assert all(v.verdict == "contradicted" for v in vs.values())


def lr_grid(thresholds):
    """Relative losses that cross 2 at ``thresholds[norm][seed]`` (None: never)."""
    lrs = (0.1, 1.0, 10.0)
    out = {}
    for k in range(4):
        rows = []
        for norm, by_seed in thresholds.items():
            for lr in lrs:
                t = by_seed[k]
                rel = 5.0 if t is not None and lr >= t else 0.5
                diverged = 5 if t is not None and lr >= 10 * t else None
                rows.append(
                    summary(
                        norm, lr, relative_loss="inf" if diverged else rel, diverged_at=diverged
                    )
                )
        out[k] = rows
    return aggregate({"lr-grid": out})


def test_learning_rate_thresholds_and_censoring():
    c = "bjorck2018.learning-rate"
    vs = verdicts(c, lr_grid({"none": [0.1, 0.1, 0.1, 1.0], "batchnorm": [10.0, None, 10.0, 10.0]}))
    v = vs["lr-grid, batchnorm vs none"]
    assert v.verdict == "supported"
    # log10 ratios: 2, 3 (censored: next grid point 100), 2, 1
    assert v.evidence.samples == pytest.approx([2.0, 3.0, 2.0, 1.0])
    table = v.evidence.details["table"]["rows"]
    assert table[1][2] is True and table[0][2] is False
    assert v.evidence.details["plot"]["kind"] == "curves"
    vs = verdicts(c, lr_grid({"none": [1.0] * 4, "batchnorm": [1.0] * 4}))
    assert vs["lr-grid, batchnorm vs none"].verdict == "contradicted"  # ties: not greater
    # none never diverging on the grid bounds the ratio only from above: that seed is dropped
    vs = verdicts(c, lr_grid({"none": [0.1, None, 0.1, 0.1], "batchnorm": [10.0, 1.0, 10.0, 1.0]}))
    v = vs["lr-grid, batchnorm vs none"]
    assert v.evidence.samples == pytest.approx([2.0, 2.0, 1.0])
    assert v.evidence.details["dropped"] == 1
    # neither diverging anywhere says nothing: no verdict, not a tie
    assert verdicts(c, lr_grid({"none": [None] * 4, "batchnorm": [None] * 4})) == {}


def test_runs_too_short_for_a_relative_loss_give_no_learning_rate_verdict():
    presets = lr_grid({"none": [0.1] * 4, "batchnorm": [1.0] * 4})
    for rows in presets["lr-grid"]["per_seed"].values():
        for r in rows:
            r["relative_loss"], r["diverged_at"] = None, None  # runs of <= 10 steps
    assert verdicts("bjorck2018.learning-rate", presets) == {}


def test_saturation_claim_per_activation():
    presets = planted(-0.2, preset="sigmoid") | planted(0.2, preset="tanh")
    vs = verdicts("ioffe2015.saturation", presets)
    assert vs["sigmoid, lr 0.5"].verdict == "supported"
    assert vs["tanh, lr 0.5"].verdict == "contradicted"
    assert set(vs) == {"sigmoid, lr 0.5", "tanh, lr 0.5"}


def test_a_runs_claim_refuses_to_judge_without_runs_and_judges_nothing_absent():
    c = get_claim("santurkar2018.smoothing.loss-variation")
    assert c.regimes == ()
    with pytest.raises(NeedsRunsError, match="judged from training runs"):
        c.judge.judge(c, "digits, lr 0.5", "ci")
    assert c.judge.judge_runs(c, planted(-0.3, preset="lr-grid"), {}) == []
    all_diverged = planted(-0.3)
    for rows in all_diverged["digits"]["per_seed"].values():
        for r in rows:
            r["loss_variation"] = None
    assert c.judge.judge_runs(c, all_diverged, {}) == []
