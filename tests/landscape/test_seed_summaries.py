"""Summaries over seeds: bootstrap intervals of each landscape measurement and paired
differences between normalizations, on real smoke-preset runs and on planted numbers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bntheory.errors import InvalidArgumentError
from bntheory.landscape.summary import METRICS, paired_comparisons, seed_summaries
from bntheory.stats import interval, mean_interval, paired_difference


def _planted(seeds, norm_value):
    """Run summaries of two normalizations per seed, every metric ``norm_value(norm, seed)``."""
    return {
        k: [
            {"norm": n, "lr": 0.1, "diverged_at": None, **{m: norm_value(n, k) for m in METRICS}}
            for n in ("none", "batchnorm")
        ]
        for k in seeds
    }


def test_a_constant_shift_is_found_exactly_and_its_interval_has_no_width():
    a, b = [1.5, 2.5, 0.5, 3.0], [1.0, 2.0, 0.0, 2.5]
    d = paired_difference(a, b)
    assert d["difference"] == pytest.approx(0.5) and d["lo"] == d["hi"] == pytest.approx(0.5)
    assert d["n"] == 4 and d["dropped"] == 0 and d["dz"] is None  # no spread in the differences
    assert d["relative"] == pytest.approx(0.5 / np.mean(b))


def test_pairing_sees_an_effect_that_two_separate_intervals_hide():
    """Seeds differ a lot from each other, the normalization lowers every one a little: the
    separate intervals overlap, the paired one excludes 0."""
    rng = np.random.default_rng(1)
    base = rng.lognormal(0.0, 1.0, size=8)
    lowered = base * 0.9
    sep_a, sep_b = mean_interval(list(lowered)), mean_interval(list(base))
    assert sep_a["hi"] > sep_b["lo"]  # overlapping
    d = paired_difference(list(lowered), list(base))
    assert d["hi"] < 0 and d["relative"] == pytest.approx(-0.1)


def test_no_effect_gives_an_interval_around_zero():
    a = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    b = [1.1, 1.9, 3.1, 3.9, 5.1, 5.9]
    d = paired_difference(a, b)
    assert d["lo"] < 0 < d["hi"]


def test_missing_and_diverged_values_are_dropped_and_counted():
    m = mean_interval([1.0, None, math.inf, 2.0, 3.0])
    assert m["n"] == 3 and m["dropped"] == 2 and m["mean"] == pytest.approx(2.0)
    assert m["lo"] <= 2.0 <= m["hi"]
    one = mean_interval([None, 4.0])
    assert one["mean"] == 4.0 and one["lo"] is None and one["hi"] is None
    d = paired_difference([1.0, None, 3.0], [0.5, 1.0, math.nan])
    assert d["n"] == 1 and d["dropped"] == 2 and d["difference"] == 0.5 and d["lo"] is None


def test_bad_samples_are_clear_errors():
    with pytest.raises(InvalidArgumentError, match="at least 2 samples"):
        interval([1.0])
    with pytest.raises(InvalidArgumentError, match="finite"):
        interval([1.0, math.nan])
    with pytest.raises(InvalidArgumentError, match=r"\(0, 1\)"):
        interval([1.0, 2.0], level=95)
    with pytest.raises(InvalidArgumentError, match="one value per seed"):
        paired_difference([1.0, 2.0], [1.0])


def test_summaries_over_seeds_refuse_unmatched_runs():
    runs = _planted([0, 1], lambda n, k: 1.0)
    with pytest.raises(InvalidArgumentError, match="missing for seeds"):
        seed_summaries({**runs, 2: runs[0][:1]})
    with pytest.raises(InvalidArgumentError, match="two runs"):
        seed_summaries({0: runs[0] + runs[0][:1], 1: runs[1]})
    with pytest.raises(InvalidArgumentError, match="at least one seed"):
        seed_summaries({})
    with pytest.raises(InvalidArgumentError, match="baseline 'layernorm'"):
        paired_comparisons(runs, baseline="layernorm")


def test_planted_smoothing_is_found_and_a_planted_roughening_too():
    smoother = _planted(range(5), lambda n, k: (1.0 + k) * (0.5 if n == "batchnorm" else 1.0))
    (row,) = paired_comparisons(smoother)
    assert row["norm"] == "batchnorm" and row["baseline"] == "none"
    for m in METRICS:
        assert row[m]["hi"] < 0 and row[m]["relative"] == pytest.approx(-0.5)
    rougher = _planted(range(5), lambda n, k: (1.0 + k) * (2.0 if n == "batchnorm" else 1.0))
    (row,) = paired_comparisons(rougher)
    assert all(row[m]["lo"] > 0 for m in METRICS)


def test_smoke_runs_over_three_seeds(tmp_path):
    """Real training runs: each seed's summaries, then the intervals and paired differences
    over seeds, which agree with the per-seed numbers they came from."""
    from bntheory.pipeline import run_preset

    per_seed = {}
    for seed in (0, 1, 2):
        _, _, summaries = run_preset(
            "smoke", tmp_path / f"seed-{seed}", None, None, 10, "cpu", seed, None, False
        )
        per_seed[seed] = summaries
    rows = seed_summaries(per_seed)
    assert {(r["norm"], r["lr"]) for r in rows} == {("none", 0.1), ("batchnorm", 0.1)}
    for r in rows:
        assert r["seeds"] == [0, 1, 2]
        for m in METRICS:
            s = r[m]
            want = [next(x for x in per_seed[k] if x["norm"] == r["norm"])[m] for k in (0, 1, 2)]
            assert s["values"] == want
            assert s["n"] == 3 and s["mean"] == pytest.approx(np.mean(want))
            assert min(want) <= s["lo"] <= s["mean"] <= s["hi"] <= max(want)
    assert len({tuple(r["loss_variation"]["values"]) for r in rows}) == 2
    assert len(set(rows[0]["loss_variation"]["values"])) == 3  # the seeds do differ
    (cmp,) = paired_comparisons(per_seed)
    for m in METRICS:
        none = next(r for r in rows if r["norm"] == "none")[m]["values"]
        bn = next(r for r in rows if r["norm"] == "batchnorm")[m]["values"]
        assert cmp[m]["difference"] == pytest.approx(np.mean(np.subtract(bn, none)))
        assert cmp[m]["lo"] <= cmp[m]["difference"] <= cmp[m]["hi"]
