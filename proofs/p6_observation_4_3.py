"""(f) Observation 4.3: a BatchNorm network can reproduce any activations."""

from bntheory.symbolic import general as G
from bntheory.symbolic.proof import Proof


def build() -> Proof:
    p = Proof(
        id="observation-4.3",
        title="(f) Observation 4.3: BatchNorm can represent the identity on a batch",
        claim=r"With $\gamma = \sigma = \sqrt{\mathrm{var}+\varepsilon}$ and $\beta = \mu$ (the "
        r"batch's own statistics), $\mathrm{BN}(y) = y$, for every $\varepsilon \ge 0$. So any "
        r"activations of the standard network, on a given batch, are reproduced by the BatchNorm "
        r"network; the minimum of the BatchNorm network's loss over $(W, \gamma, \beta)$ is at "
        r"most the standard network's on that batch.",
        assumptions=[
            r"$\mathrm{var} + \varepsilon > 0$",
            r"$\gamma, \beta$ chosen for the batch at hand (they are per-channel constants, so "
            r"this holds for one batch, not uniformly over batches)",
        ],
    )
    z = G.forward_indexed("i").subs({G.gamma: G.sigma_of_var(), G.beta: G.mu})
    p.eq(
        r"Substitute $\gamma = \sqrt{\mathrm{var}+\varepsilon}$, $\beta = \mu$ into "
        r"$z_i = \gamma\frac{y_i-\mu}{\sqrt{\mathrm{var}+\varepsilon}}+\beta$",
        z,
        G.y["i"],
    )
    p.eq(
        r"With $\varepsilon = 0$ the choice is $\gamma = \sqrt{\mathrm{var}}$",
        z.subs(G.eps, 0),
        G.y["i"],
    )
    return p
