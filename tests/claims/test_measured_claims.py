"""The measured claims at initialization: their statistics, their records, and planted false
variants that the same judges contradict."""

from __future__ import annotations

import math

import numpy as np
import pytest
import sympy
import torch

from bntheory.cases.deepnets import DeepNet, numerical_rank, stable_rank
from bntheory.claims import get_claim
from bntheory.claims.catalogue import (
    bjorck2018_activation_growth as bjorck,
)
from bntheory.claims.catalogue import (
    daneshmand2020_rank as daneshmand,
)
from bntheory.claims.catalogue import (
    ioffe2015_jacobian as ioffe,
)
from bntheory.claims.catalogue import (
    yang2019_gradient_explosion as yang,
)
from bntheory.claims.measured import MeasuredJudge, decide
from bntheory.claims.model import Claim, ClaimInfo, Verdict
from bntheory.errors import InvalidArgumentError
from bntheory.symbolic import meanfield


def planted(judge) -> Claim:
    """A claim around a judge (its id says it is planted)."""
    return Claim(ClaimInfo("planted", "test", "", "networks"), judge, regimes=("relu", "linear"))


def test_the_relu_constant_is_derived_exactly():
    assert sympy.simplify(meanfield.explosion_rate("relu") - sympy.pi / (sympy.pi - 1)) == 0
    assert meanfield.explosion_rate("linear") == 1
    assert (
        sympy.simplify(meanfield.linear_rate_finite_batch() - (meanfield.B - 2) / (meanfield.B - 3))
        == 0
    )
    # tanh by quadrature: E[sech^4] / Var[tanh], both between the linear and ReLU values
    assert 1.0 < meanfield.rate_value("tanh") < meanfield.rate_value("relu")


def test_yang_record_carries_measured_and_predicted_rates():
    v = get_claim("yang2019.gradient-explosion").verdict("relu", "quick")
    d = v.evidence.details
    assert d["predicted_rate"] == pytest.approx(math.pi / (math.pi - 1), rel=1e-12)
    lo, hi = d["measured_rate_interval"]
    assert lo <= d["measured_rate"] <= hi
    assert v.evidence.band == pytest.approx(
        (d["predicted_rate"] * 0.95, d["predicted_rate"] * 1.05)
    )
    assert v.verdict in ("supported", "contradicted", "inconclusive")
    again = Verdict.from_json(v.to_json())
    assert again.evidence.band == v.evidence.band and again.evidence.details == d


def test_a_wrong_rate_constant_is_contradicted():
    wrong = math.pi / (math.pi - 2)  # a plausible-looking wrong constant
    j = yang.judge(constant=wrong)
    fast = MeasuredJudge(j.statistic, j.measure, j.threshold, per_regime=j.per_regime)
    assert planted(fast).verdict("relu", "quick").verdict == "contradicted"


def test_the_rate_measurement_sees_the_batch_statistics():
    """Through the batch statistics the linear network's gradient grows like (B-2)/(B-3)
    (1.2 at B = 8); with the statistics detached (a different layer) the projection is gone
    and only E[1/sigma^2] = (B-1)/(B-3) (1.4) is left."""
    net = DeepNet(256, 40, 8, "linear", "batchnorm", seed=3)
    assert abs(yang.measured_rate(net) / (6 / 5) - 1) < yang.BAND

    class Detached(DeepNet):
        def normalize(self, y):
            mu, sd = y.mean(0, keepdim=True).detach(), y.std(0, unbiased=False, keepdim=True)
            return (y - mu) / sd.detach()

    detached = Detached(256, 40, 8, "linear", "batchnorm", seed=3)
    assert abs(yang.measured_rate(detached) / (7 / 5) - 1) < yang.BAND


def test_batchnorm_jacobian_has_its_structural_zeros():
    s = ioffe.spectrum(16, 8, "linear", "batchnorm", 0)
    assert int((s < 1e-10 * s[0]).sum()) == 2 * 16  # each feature loses shift and scale
    assert int((ioffe.spectrum(16, 8, "linear", "none", 0) < 1e-10).sum()) == 0


def test_a_false_reading_of_the_jacobian_claim_is_contradicted():
    # "the rms singular value is close to 2" is false of every activation here
    j = MeasuredJudge(
        "rms",
        lambda seed, regime: ioffe.statistic(
            "rms", ioffe.spectrum(32, 8, regime, "batchnorm", seed), 32, "batchnorm"
        ),
        2.0,
        alternative="within",
        band=(2 / 2**0.5 * 1.2, 2 * 2**0.5),
    )
    assert planted(j).verdict("linear", "quick").verdict == "contradicted"


def test_rank_measures():
    h = torch.as_tensor(np.diag([3.0, 1.0, 1e-5]))
    assert numerical_rank(h, 1e-3) == 2
    assert stable_rank(h) == pytest.approx((9 + 1 + 1e-10) / 9)
    assert stable_rank(torch.zeros(3, 3)) == 0.0


def test_rank_claim_planted_variant_is_contradicted():
    """Without BatchNorm the stable rank is at least 1 always: "below 1" must be contradicted."""
    claim = get_claim("daneshmand2020.rank")
    j = daneshmand.judge(thresholds={"none, stable rank": 1.0})
    fast = MeasuredJudge(j.statistic, j.measure, j.threshold, per_regime=j.per_regime)
    assert (
        Claim(claim.info, fast, claim.regimes).verdict("none, stable rank", "quick").verdict
        == "contradicted"
    )


def test_activation_growth_planted_variant_is_contradicted():
    j = bjorck.judge(factor=1e15)  # growth "by more than 1e15" is false without BN as well
    fast = MeasuredJudge(j.statistic, j.measure, j.threshold, per_regime=j.per_regime)
    claim = get_claim("bjorck2018.activation-growth")
    got = Claim(claim.info, fast, claim.regimes).verdict("none, variance", "quick")
    assert got.verdict == "contradicted"
    means, variances = bjorck.channel_moments("none", 0)
    assert means.shape == variances.shape == (bjorck.BLOCKS, bjorck.CHANNELS)


def test_within_decisions():
    assert decide(0.99, 1.01, 1.0, "within", (0.95, 1.05)) == "supported"
    assert decide(1.06, 1.2, 1.0, "within", (0.95, 1.05)) == "contradicted"
    assert decide(1.0, 1.2, 1.0, "within", (0.95, 1.05)) == "inconclusive"
    with pytest.raises(InvalidArgumentError, match="band"):
        decide(0.0, 1.0, 1.0, "within", None)


def test_deep_net_rejects_bad_input():
    with pytest.raises(InvalidArgumentError, match="activation"):
        DeepNet(4, 2, 4, "gelu")
    with pytest.raises(InvalidArgumentError, match="batch"):
        DeepNet(4, 2, 1, "relu", "batchnorm")
