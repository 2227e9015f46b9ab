r"""Ioffe & Szegedy (2015, seeds 001 and 003): BatchNorm keeps saturating nonlinearities out
of their saturated regime.

"For sigmoid activation ... as :math:`|x|` increases, :math:`g'(x)` tends to zero ... the
model will tend to get stuck in the saturated regime ... If we could ensure that the
distribution of nonlinearity inputs remains more stable as the network trains, then the
optimizer would be less likely to get stuck in the saturated regime."  Judged on the
``sigmoid`` and ``tanh`` presets (Ioffe & Szegedy's Figure 1 network: three fully connected
layers of 100 units, here on scikit-learn's digits), with and without BatchNorm before each
nonlinearity.  A unit is saturated on a sample when its derivative is below
:data:`bntheory.landscape.probes.SATURATED` (10 %) of its maximum (sigmoid: :math:`|x|>3.64`;
tanh: :math:`|x|>1.82`); each probe records the saturated fraction of all (unit, sample)
pairs on its batch, and a run's number is its mean over the probes after initialization.

Per seed: the fraction with BatchNorm minus without; the claim is that it is below 0.
"""

from __future__ import annotations

from bntheory.claims.catalogue.santurkar2018_empirical import difference_measure, paired_regimes
from bntheory.claims.model import Claim, ClaimInfo
from bntheory.claims.runs import RunsJudge

ORDER = 61

PRESETS = ("sigmoid", "tanh")

CLAIMS = (
    Claim(
        ClaimInfo(
            id="ioffe2015.saturation",
            source="Ioffe & Szegedy (2015), Sections 1 and 3.3 (seeds 001 and 003)",
            statement=(
                r"\Pr[\,g'(x) < 0.1\max g'\,]_{\mathrm{BN}} < "
                r"\Pr[\,g'(x) < 0.1\max g'\,]_{\text{standard}},\quad g\in\{\sigma,\tanh\}"
            ),
            case_space=(
                "a digits MLP of three 100-unit sigmoid (tanh) layers, batch 60, SGD lr 0.5, "
                "600 steps, with and without BatchNorm before each nonlinearity, at the same "
                "seed"
            ),
            reading=(
                "A unit is saturated on a sample when its derivative is below 10 % of the "
                "derivative's maximum; a run's saturation is the saturated fraction of all "
                "(unit, sample) pairs, averaged over the probes after initialization. Per seed "
                "the saturation with BatchNorm minus without; the claim is a mean below 0."
            ),
            paper="ioffe2015",
            title="BatchNorm keeps sigmoid and tanh units out of saturation",
        ),
        RunsJudge(
            statistic="saturation(batchnorm) - saturation(none), per seed",
            regimes_of=lambda presets: [
                r
                for r in paired_regimes(presets, "batchnorm", skip=())
                if r.split(",")[0] in PRESETS
            ],
            measure=difference_measure("batchnorm", "saturation"),
            claimed=lambda regime: ("less", 0.0, None),
            presets=PRESETS,
        ),
        regimes=(),
    ),
)
