r"""Santurkar et al. (2018), the empirical claims: judged from training runs over seeds.

Each claim compares runs of the same preset, learning rate and seed (paired by seed: the
same data order and initialization stream), on the landscape measurements of
:mod:`bntheory.landscape.probes` in training mode (batch statistics), summarised per run by
their median over the probes after initialization (:func:`bntheory.landscape.summary.run_summary`).

* ``santurkar2018.smoothing.*`` (Section 3.1, Figure 4): BatchNorm lowers the loss variation
  :math:`\max_\eta L(x-\eta\nabla L) - \min_\eta L(x-\eta\nabla L)`, the gradient
  predictiveness :math:`\max_\eta\|\nabla L(x) - \nabla L(x-\eta\nabla L)\|` and the
  effective :math:`\beta`-smoothness against the same network without normalization.  Per
  seed: the difference BatchNorm minus none; claimed below 0.
* ``santurkar2018.ics`` (Section 2.2, Definition 2.1, Figure 5): BatchNorm does not reduce
  the optimization-based internal covariate shift.  Per seed: the ratio of BatchNorm's ICS to
  none's, for :math:`\|G-G'\|` and for :math:`1-\cos(G,G')`; "does not reduce" is read as
  the ratio staying above 0.9 (BatchNorm removes less than a tenth of it).
* ``santurkar2018.noisy-batchnorm`` (Section 2.1, Figure 2): noisy BatchNorm trains about as
  fast as BatchNorm (the ratio of the mean training losses over the run within
  :math:`[0.8, 1.25]`), faster than none (its mean training loss lower), while its
  activations are less stable than without normalization (their shift between probes,
  :func:`bntheory.landscape.summary.activation_shift`, higher).
* ``santurkar2018.lp-normalization`` (Section 3.3, Figures 13-14): the
  :math:`\ell_1`, :math:`\ell_2` and :math:`\ell_\infty` batch normalizations smooth the
  landscape as BatchNorm does: each lowers each of the three measurements against none.

The ``layers`` preset repeats the digits CNN at learning rate 0.5, so its none, BatchNorm and
noisy-BatchNorm runs are those of ``digits`` at lr 0.5 (the same configuration and seeds):
only the l_p claims read it.
"""

from __future__ import annotations

from bntheory.claims.model import Claim, ClaimInfo
from bntheory.claims.runs import RunsJudge, grid, split_regime, summaries_by_seed
from bntheory.stats import paired_difference

ORDER = 15

#: Presets whose none/BatchNorm runs repeat another preset's (not judged twice).
REPEATS = {"layers": "digits"}
#: Presets made for other claims (the learning-rate grid has no probes; the sigmoid and
#: tanh networks are Ioffe & Szegedy's), left out of the landscape claims.
OTHERS = ("lr-grid", "sigmoid", "tanh")
SMOOTHING = {
    "loss-variation": ("loss_variation", "loss variation"),
    "gradient-predictiveness": ("predictiveness_max", "gradient predictiveness"),
    "beta-smoothness": ("beta_smoothness", "effective beta-smoothness"),
}
LP = ("l1batchnorm", "l2batchnorm", "linfbatchnorm")
ICS_RATIO = 0.9
SPEED_BAND = (0.8, 1.25)


def paired_regimes(
    presets, norm: str, baseline: str = "none", skip=(*REPEATS, *OTHERS)
) -> list[str]:
    """``"PRESET, lr LR"`` for every preset (but ``skip``) and learning rate with runs of
    both norms."""
    out = []
    for name in presets:
        if name in skip:
            continue
        have = grid(presets, name)
        for lr in sorted({lr for _, lr in have}):
            if (norm, lr) in have and (baseline, lr) in have:
                out.append(f"{name}, lr {lr:g}")
    return out


def pairs(presets, preset: str, lr: float, a: str, b: str, metric: str):
    """Per seed (in order): ``(seed, metric of a, metric of b)``; both ``None`` on a seed on
    which either run diverged (a diverged run's probes stop where it diverged, so its numbers
    are not comparable with a finished run's: the seed is dropped, and counted)."""
    by_seed = summaries_by_seed(presets, preset)
    out = []
    for seed in sorted(by_seed):
        ra, rb = by_seed[seed][(a, lr)], by_seed[seed][(b, lr)]
        if ra["diverged_at"] is not None or rb["diverged_at"] is not None:
            out.append((seed, None, None))
        else:
            out.append((seed, ra[metric], rb[metric]))
    return out


def _value(x):
    return None if x is None or isinstance(x, str) else float(x)


def difference_measure(norm: str, metric: str, baseline: str = "none"):
    """Per seed: ``metric(norm) - metric(baseline)``; details: the paired difference's
    relative effect and ``d_z``, and the per-seed table."""

    def measure(presets, regime):
        preset, lr, parts = split_regime(regime)
        n = parts[0] if parts and parts[0] in LP else norm
        m = SMOOTHING[parts[1]][0] if len(parts) > 1 else metric
        rows = pairs(presets, preset, lr, n, baseline, m)
        a = [_value(x) for _, x, _ in rows]
        b = [_value(y) for _, _, y in rows]
        values = [None if x is None or y is None else x - y for x, y in zip(a, b)]
        effect = paired_difference(a, b)
        return values, {
            "relative_effect": effect["relative"],
            "dz": effect["dz"],
            f"{n} (mean)": _mean(a),
            f"{baseline} (mean)": _mean(b),
            "table": {
                "caption": f"{m} per seed ({preset}, lr {lr:g})",
                "columns": ["seed", n, baseline, "difference"],
                "rows": [[s, x, y, v] for (s, _, _), x, y, v in zip(rows, a, b, values)],
            },
        }

    return measure


def _mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def smoothing_claim(key: str) -> Claim:
    """``santurkar2018.smoothing.<key>``: BatchNorm lowers one landscape measurement."""
    metric, words = SMOOTHING[key]
    return Claim(
        ClaimInfo(
            id=f"santurkar2018.smoothing.{key}",
            source="Santurkar et al. (2018), Section 3.1 and Figure 4",
            statement=(
                r"\text{" + words + r"}(\mathrm{BN}) < \text{" + words + r"}(\text{standard})"
            ),
            case_space=(
                "the landscape presets' networks trained with SGD, each with and without "
                "BatchNorm at the same learning rate and seed; probes in training mode"
            ),
            reading=(
                f"Per seed the difference of the run medians of the {words} (BatchNorm minus "
                "none); the claim is that its mean over seeds is below 0, judged by the 95 % "
                "bootstrap interval over seeds."
            ),
            paper="santurkar2018",
            title=f"BatchNorm lowers the {words}",
        ),
        RunsJudge(
            statistic=f"{metric}(batchnorm) - {metric}(none), per seed",
            regimes_of=lambda presets: paired_regimes(presets, "batchnorm"),
            measure=difference_measure("batchnorm", metric),
            claimed=lambda regime: ("less", 0.0, None),
            presets=("digits", "dln"),
        ),
        regimes=(),
    )


def ics_measure(presets, regime):
    """Per seed: BatchNorm's ICS over none's (``l2``: ``|G - G'|``; ``cosine``: ``1 - cos``)."""
    preset, lr, (part,) = split_regime(regime)
    metric = "ics_l2" if part == "l2" else "ics_cos"
    rows = pairs(presets, preset, lr, "batchnorm", "none", metric)

    def shift(v):
        v = _value(v)
        return None if v is None else (v if part == "l2" else 1.0 - v)

    values = []
    for _, a, b in rows:
        a, b = shift(a), shift(b)
        values.append(None if a is None or b is None or b == 0 else a / b)
    return values, {
        "table": {
            "caption": f"ICS ({'|G - G′|' if part == 'l2' else '1 - cos(G, G′)'}) per seed",
            "columns": ["seed", "batchnorm", "none", "ratio"],
            "rows": [[s, shift(a), shift(b), v] for (s, a, b), v in zip(rows, values)],
        }
    }


def noisy_measure(presets, regime):
    """Per seed, by part: ``speed vs batchnorm`` (ratio of mean training losses), ``speed vs
    none`` (difference of mean training losses), ``stability vs none`` (difference of the
    activation shifts)."""
    preset, lr, (part,) = split_regime(regime)
    baseline = "batchnorm" if part.endswith("batchnorm") else "none"
    metric = "activation_shift" if part.startswith("stability") else "mean_train_loss"
    rows = pairs(presets, preset, lr, "noisybatchnorm", baseline, metric)
    values = []
    for _, a, b in rows:
        a, b = _value(a), _value(b)
        if a is None or b is None:
            values.append(None)
        else:
            values.append(a / b if part == "speed vs batchnorm" else a - b)
    return values, {
        "table": {
            "caption": f"{metric} per seed ({preset}, lr {lr:g})",
            "columns": ["seed", "noisybatchnorm", baseline, "statistic"],
            "rows": [[s, _value(a), _value(b), v] for (s, a, b), v in zip(rows, values)],
        }
    }


NOISY_PARTS = {
    "speed vs batchnorm": ("within", 1.0, SPEED_BAND),
    "speed vs none": ("less", 0.0, None),
    "stability vs none": ("greater", 0.0, None),
}


CLAIMS = (
    *(smoothing_claim(k) for k in SMOOTHING),
    Claim(
        ClaimInfo(
            id="santurkar2018.ics",
            source="Santurkar et al. (2018), Section 2.2, Definition 2.1 and Figure 5",
            statement=(
                r"\mathrm{ICS}_i = \|G_{t,i} - G'_{t,i}\|_2,\ "
                r"\cos(G_{t,i}, G'_{t,i}):\ \mathrm{ICS}(\mathrm{BN}) \not< "
                r"\mathrm{ICS}(\text{standard})"
            ),
            case_space=(
                "the landscape presets' networks with and without BatchNorm at the same "
                "learning rate and seed; ICS per layer averaged over the layers, median over "
                "the probes"
            ),
            reading=(
                "BatchNorm does not reduce the internal covariate shift of Definition 2.1. Per "
                "seed the ratio of BatchNorm's ICS to none's, for |G - G'| (regime part l2) and "
                "for 1 - cos(G, G') (part cosine); 'does not reduce' is read as the mean ratio "
                f"above {ICS_RATIO} (BatchNorm removes less than a tenth of it)."
            ),
            paper="santurkar2018",
            title="BatchNorm does not reduce internal covariate shift",
        ),
        RunsJudge(
            statistic="ICS(batchnorm) / ICS(none), per seed",
            regimes_of=lambda presets: [
                f"{r}, {part}"
                for r in paired_regimes(presets, "batchnorm")
                for part in ("l2", "cosine")
            ],
            measure=ics_measure,
            claimed=lambda regime: ("greater", ICS_RATIO, None),
            presets=("digits", "dln"),
        ),
        regimes=(),
    ),
    Claim(
        ClaimInfo(
            id="santurkar2018.noisy-batchnorm",
            source="Santurkar et al. (2018), Section 2.1 and Figure 2",
            statement=(
                r"\text{noisy BN trains about as fast as BN, faster than standard; its "
                r"activations are less stable than standard}"
            ),
            case_space=(
                "the digits CNN with noisy BatchNorm (BatchNorm with non-stationary Gaussian "
                "noise of random mean and scale on its outputs), BatchNorm and none, at the "
                "same learning rate and seed"
            ),
            reading=(
                "Three parts (the regimes): speed vs batchnorm: the ratio of the mean training "
                "losses over the run (noisy over BatchNorm) lies within [0.8, 1.25]; speed vs "
                "none: noisy's mean training loss minus none's is below 0; stability vs none: "
                "the activations' shift between probes (mean |Δμ| + |Δσ| in units of σ, over "
                "the normalized layers) is higher with noisy BatchNorm than without "
                "normalization."
            ),
            paper="santurkar2018",
            title="Noisy BatchNorm: fast training with unstable activations",
        ),
        RunsJudge(
            statistic="noisy BatchNorm against BatchNorm and none, per seed (see the reading)",
            regimes_of=lambda presets: [
                f"{r}, {part}"
                for r in paired_regimes(presets, "noisybatchnorm")
                if r in paired_regimes(presets, "batchnorm")
                for part in NOISY_PARTS
            ],
            measure=noisy_measure,
            claimed=lambda regime: NOISY_PARTS[split_regime(regime)[2][0]],
            presets=("digits",),
        ),
        regimes=(),
    ),
    Claim(
        ClaimInfo(
            id="santurkar2018.lp-normalization",
            source="Santurkar et al. (2018), Section 3.3 and Figures 13-14",
            statement=(r"\ell_p\text{-BN smooths the landscape as BN does},\ p\in\{1, 2, \infty\}"),
            case_space=(
                "the layers preset (digits CNN, lr 0.5) with each l_p batch normalization and "
                "without normalization, at the same seed"
            ),
            reading=(
                "For each of l1batchnorm, l2batchnorm, linfbatchnorm and each of the loss "
                "variation, the gradient predictiveness and the effective beta-smoothness: the "
                "per-seed difference against none has a mean below 0."
            ),
            paper="santurkar2018",
            title="l_p batch normalizations smooth the landscape",
        ),
        RunsJudge(
            statistic="metric(l_p batchnorm) - metric(none), per seed",
            regimes_of=lambda presets: [
                f"{r}, {norm}, {key}"
                for norm in LP
                for r in paired_regimes(presets, norm, skip=OTHERS)
                for key in SMOOTHING
            ],
            measure=difference_measure("l2batchnorm", "loss_variation"),
            claimed=lambda regime: ("less", 0.0, None),
            presets=("layers",),
        ),
        regimes=(),
    ),
)
