"""``ghorbani2019.outliers`` judged from run summaries: the judge finds what the runs say."""

from __future__ import annotations

import pytest

from bntheory.claims.registry import get_claim


def summary(norm: str, train: tuple, evals: tuple | None = None, diverged=None) -> dict:
    """A run summary whose spectrum metrics are ``(count, mass, share)`` per mode."""

    def mode(v):
        count, mass, share = v
        return {
            "outlier_count": count,
            "outlier_mass": mass,
            "gradient_share": share,
            "top_eigenvalue": 1.0,
            "series": {
                "steps": [0, 10],
                "outlier_count": [count, count],
                "outlier_mass": [mass, mass],
                "gradient_share": [share, share],
                "top_eigenvalue": [1.0, 1.0],
            },
            "density": {"grid": [0.0, 1.0], "density": [1.0, 1.0], "spread": [0.0, 0.0]},
            "bulk_edge": 0.5,
            "eigenvalues": [1.0],
            "step": 10,
        }

    spectrum = {"train": mode(train)}
    if evals is not None:
        spectrum["eval"] = mode(evals)
    return {"norm": norm, "lr": 0.1, "diverged_at": diverged, "spectrum": spectrum}


def presets(none, bn_train, bn_eval, seeds=6):
    """A sweep aggregate of one preset; each metric jittered a little per seed."""

    def jit(v, k):
        j = 0.01 * (k % 5 - 2)
        return (v[0] + k % 2, v[1] + j, v[2] + j)

    per_seed = {
        str(s): [
            summary("none", jit(none, s)),
            summary("batchnorm", jit(bn_train, 3 * s), jit(bn_eval, 7 * s)),
        ]
        for s in range(seeds)
    }
    return {"p": {"per_seed": per_seed}}


def verdicts(p):
    claim = get_claim("ghorbani2019.outliers")
    return {v.regime.split(", ", 2)[2]: v.verdict for v in claim.judge.judge_runs(claim, p, {})}


def test_outliers_without_and_none_with_batchnorm_are_supported():
    got = verdicts(presets((8, 0.6, 0.7), (0, 0.0, 0.1), (6, 0.5, 0.6)))
    assert set(got) == {
        "outliers without batchnorm",
        "outliers: batchnorm (train) - none",
        "outlier mass: batchnorm (train) - none",
        "gradient share: batchnorm (train) - none",
        "outliers: batchnorm (eval) - batchnorm (train)",
        "outlier mass: batchnorm (eval) - batchnorm (train)",
    }
    assert set(got.values()) == {"supported"}


def test_the_reverse_is_contradicted():
    got = verdicts(presets((0, 0.0, 0.1), (8, 0.6, 0.7), (2, 0.1, 0.2)))
    assert got["outliers: batchnorm (train) - none"] == "contradicted"
    assert got["outlier mass: batchnorm (train) - none"] == "contradicted"
    assert got["gradient share: batchnorm (train) - none"] == "contradicted"
    assert got["outlier mass: batchnorm (eval) - batchnorm (train)"] == "contradicted"


def test_runs_without_spectra_give_no_regime_and_diverged_seeds_are_dropped():
    p = presets((8, 0.6, 0.7), (0, 0.0, 0.1), (6, 0.5, 0.6))
    for runs in p["p"]["per_seed"].values():
        for r in runs:
            r["spectrum"] = {}
    assert verdicts(p) == {}
    p = presets((8, 0.6, 0.7), (0, 0.0, 0.1), (6, 0.5, 0.6))
    p["p"]["per_seed"]["0"][0]["diverged_at"] = 3
    claim = get_claim("ghorbani2019.outliers")
    v = claim.judge.judge_runs(claim, p, {})[1]
    assert v.evidence.details["dropped"] == 1 and len(v.evidence.samples) == 5
    assert v.evidence.details["plot"]["series"][0]["label"] == "none"
    dens = claim.judge.judge_runs(claim, p, {})[0].evidence.details["densities"]
    assert [d["label"] for d in dens] == pytest.approx(
        ["none", "BatchNorm, train mode", "BatchNorm, eval mode"]
    )
