r"""The lambdified symbolic derivatives as a third, independent reference for a case.

For small groups (``m <= SYMBOLIC_MAX_M``) SymPy's explicit Jacobian
:math:`J_{ik} = \partial z_i/\partial y_k` and Hessian
:math:`T_{ikl} = \partial^2 z_i/\partial y_k\partial y_l` of the layer's *symbolic* forward
(:mod:`bntheory.symbolic.explicit`, with a symbolic ``eps``) are lambdified to mpmath and
evaluated at the case's float64 numbers with :data:`DIGITS` significant digits, so the
reference carries no rounding error of its own at float64 scale:

.. math::
    \hat g_k = \sum_i g_i J_{ik},\qquad
    \hat g^\top\hat H\hat g = (J\hat g)^\top H\,(J\hat g)
    + \sum_{ikl} g_i\,T_{ikl}\,\hat g_k\hat g_l .

This shares no code with autograd or the closed forms: only the layer's symbolic forward,
which :func:`bntheory.symbolic` already checks against the torch forward.
"""

from __future__ import annotations

import functools

#: Largest group size with a symbolic cross-check (lambdifying the m = 5 Hessian takes
#: seconds and evaluating it about 0.1 s per case).
SYMBOLIC_MAX_M = 4
#: Significant digits of the mpmath evaluation.
DIGITS = 50


@functools.cache
def _lambdified(name: str, m: int):

    from bntheory.symbolic.explicit import group_symbols, hessian, jacobian, lambdify_mpmath

    sym = group_symbols(m, "eps")
    args = (*sym.y, sym.gamma, sym.beta, sym.eps)
    jac = lambdify_mpmath(args, jacobian(name, m, "eps"), cse=True)
    hes = lambdify_mpmath(args, hessian(name, m, "eps").tolist(), cse=True)
    return jac, hes


def symbolic_quantities(y, gamma: float, beta: float, eps: float, g, H, name: str = "batchnorm"):
    """``(ghat, ghat^T Hhat ghat)`` from the lambdified symbolic derivatives, as Python floats
    (``ghat`` a list), for one case given as sequences of floats."""
    import mpmath

    y, g, H = [float(t) for t in y], [float(t) for t in g], [[float(t) for t in row] for row in H]
    m = len(y)
    jac, hes = _lambdified(name, m)
    with mpmath.workdps(DIGITS):
        mp = mpmath.mpf
        args = [mp(t) for t in y] + [mp(gamma), mp(beta), mp(eps)]
        J, T = jac(*args), hes(*args)
        gm = [mp(t) for t in g]
        ghat = [mpmath.fsum(gm[i] * J[i, k] for i in range(m)) for k in range(m)]
        jg = [mpmath.fsum(J[a, k] * ghat[k] for k in range(m)) for a in range(m)]
        quad = mpmath.fsum(jg[a] * mp(H[a][b]) * jg[b] for a in range(m) for b in range(m))
        curv = mpmath.fsum(
            gm[i] * T[i][k][j] * ghat[k] * ghat[j]
            for i in range(m)
            for k in range(m)
            for j in range(m)
        )
        return [float(t) for t in ghat], float(quad + curv)
