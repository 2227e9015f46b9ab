r"""Fused CPU kernels (Numba) for BatchNorm's closed forms on ``(N, C)`` batches.

The closed forms need, per channel, the means of :math:`y`, :math:`g`, :math:`v` and the
centered inner products :math:`\langle y-\mu, y-\mu\rangle`, :math:`\langle y-\mu, v-\bar v\rangle`,
:math:`\langle y-\mu, g-\bar g\rangle`, :math:`\langle g-\bar g, v-\bar v\rangle`, and then one
elementwise combination.  Here that is two passes over memory instead of five or more:

1. **Statistics in one pass**, by blocks of :data:`BLOCK_ROWS` samples: a block of every
   channel stays in cache, so its means and centered co-moments are computed two-pass *within
   the block* (as stable as the global two-pass formula) while memory is read once.  The
   blocks are then merged pairwise in a tree with the parallel update of Chan, Golub and
   LeVeque (1979),

   .. math:: M_{pq} = M^a_{pq} + M^b_{pq} + \delta_p\delta_q\,\frac{n_a n_b}{n_a+n_b},
       \qquad \delta_p = \bar p^{\,b} - \bar p^{\,a},

   so rounding grows with the block length plus :math:`\log_2` of the number of blocks: the
   growth that :mod:`bntheory.verify.errormodel` assumes for cascade sums.
2. **The result in one pass**: ``out = k0 (y - mu) + k1 (g - g_bar) [+ k2 (v - v_bar)]`` with
   per-channel coefficients (every difference is taken before it is scaled, so each term
   carries the rounding of its own centered size, as in the torch route).

The loops run over the channel axis innermost, where they vectorize; blocks of samples are
split between threads (``numba.prange``).  Only contiguous 2-D ``(N, C)`` inputs take this
route; the coefficients and every check (finiteness, zero variance) stay in
:mod:`bntheory.norms.batchnorm`.

Numba is optional: without it, or with ``BNTHEORY_FUSED=0`` in the environment, the layer
takes its blocked torch route (same formulas, more passes).
"""

from __future__ import annotations

import os

import numpy as np
import torch

try:
    from numba import njit, prange
except ImportError:  # pragma: no cover - depends on the environment
    njit = None

#: Samples per statistics block: ``BLOCK_ROWS * C`` values of each input stay in cache.
BLOCK_ROWS = 64

#: Set to ``False`` to force the torch route (tests compare both routes).
ENABLED = njit is not None and os.environ.get("BNTHEORY_FUSED", "1") != "0"

_OPTS = dict(cache=True, fastmath={"contract"}, error_model="numpy")


if njit is not None:

    @njit(**_OPTS)
    def _tree2(st, nb):
        """Merge block statistics ``st[0:nb]`` (fields ``n, mx, mw, Mxx, Mxw``) pairwise into ``st[0]``."""
        C = st.shape[2]
        step = 1
        while step < nb:
            for i in range(0, nb - step, 2 * step):
                a = st[i]
                b = st[i + step]
                for c in range(C):
                    n = a[0, c] + b[0, c]
                    f = b[0, c] / n
                    w = a[0, c] * f
                    dx = b[1, c] - a[1, c]
                    dw = b[2, c] - a[2, c]
                    a[3, c] += b[3, c] + dx * dx * w
                    a[4, c] += b[4, c] + dx * dw * w
                    a[1, c] += dx * f
                    a[2, c] += dw * f
                    a[0, c] = n
            step *= 2

    @njit(**_OPTS)
    def _tree3(st, nb):
        """Merge block statistics ``st[0:nb]`` (fields ``n, mx, mg, mv, Mxx, Mxv, Mxg, Mgv``)
        pairwise into ``st[0]``."""
        C = st.shape[2]
        step = 1
        while step < nb:
            for i in range(0, nb - step, 2 * step):
                a = st[i]
                b = st[i + step]
                for c in range(C):
                    n = a[0, c] + b[0, c]
                    f = b[0, c] / n
                    w = a[0, c] * f
                    dx = b[1, c] - a[1, c]
                    dg = b[2, c] - a[2, c]
                    dv = b[3, c] - a[3, c]
                    a[4, c] += b[4, c] + dx * dx * w
                    a[5, c] += b[5, c] + dx * dv * w
                    a[6, c] += b[6, c] + dx * dg * w
                    a[7, c] += b[7, c] + dg * dv * w
                    a[1, c] += dx * f
                    a[2, c] += dg * f
                    a[3, c] += dv * f
                    a[0, c] = n
            step *= 2

    @njit(parallel=True, **_OPTS)
    def _stats2(x, w, st, rows):
        N, C = x.shape
        nb = st.shape[0]
        for b in prange(nb):
            r0 = b * rows
            r1 = min(r0 + rows, N)
            s = st[b]
            for r in range(r0, r1):
                for c in range(C):
                    s[1, c] += x[r, c]
                    s[2, c] += w[r, c]
            cnt = r1 - r0
            for c in range(C):
                s[0, c] = cnt
                s[1, c] /= cnt
                s[2, c] /= cnt
            for r in range(r0, r1):
                for c in range(C):
                    dx = x[r, c] - s[1, c]
                    s[3, c] += dx * dx
                    s[4, c] += dx * (w[r, c] - s[2, c])
        _tree2(st, nb)

    @njit(parallel=True, **_OPTS)
    def _stats3(x, g, v, st, rows):
        N, C = x.shape
        nb = st.shape[0]
        for b in prange(nb):
            r0 = b * rows
            r1 = min(r0 + rows, N)
            s = st[b]
            for r in range(r0, r1):
                for c in range(C):
                    s[1, c] += x[r, c]
                    s[2, c] += g[r, c]
                    s[3, c] += v[r, c]
            cnt = r1 - r0
            for c in range(C):
                s[0, c] = cnt
                s[1, c] /= cnt
                s[2, c] /= cnt
                s[3, c] /= cnt
            for r in range(r0, r1):
                for c in range(C):
                    dx = x[r, c] - s[1, c]
                    dg = g[r, c] - s[2, c]
                    dv = v[r, c] - s[3, c]
                    s[4, c] += dx * dx
                    s[5, c] += dx * dv
                    s[6, c] += dx * dg
                    s[7, c] += dg * dv
        _tree3(st, nb)

    @njit(parallel=True, **_OPTS)
    def _combine2(out, x, w, k):
        """``out = k0 (x - k1) + k2 (w - k3)``, ``k`` of shape ``(4, C)``."""
        N, C = out.shape
        for r in prange(N):
            for c in range(C):
                out[r, c] = k[0, c] * (x[r, c] - k[1, c]) + k[2, c] * (w[r, c] - k[3, c])

    @njit(parallel=True, **_OPTS)
    def _combine3(out, x, g, v, k):
        """``out = k0 (x - k1) + k2 (g - k3) + k4 (v - k5)``, ``k`` of shape ``(6, C)``."""
        N, C = out.shape
        for r in prange(N):
            for c in range(C):
                out[r, c] = (k[0, c] * (x[r, c] - k[1, c]) + k[2, c] * (g[r, c] - k[3, c])
                             + k[4, c] * (v[r, c] - k[5, c]))


def usable(x, *others) -> bool:
    """Whether the fused route applies: Numba present and enabled, CPU, float32/float64,
    2-D ``(N, C)``, every tensor contiguous with the same shape and dtype."""
    if not ENABLED or x.device.type != "cpu" or x.dim() != 2 or x.dtype not in (torch.float64, torch.float32):
        return False
    return all(t.shape == x.shape and t.dtype == x.dtype and t.device == x.device for t in others) and all(
        t.is_contiguous() for t in (x, *others)
    )


def _blocks(n: int) -> int:
    return (n + BLOCK_ROWS - 1) // BLOCK_ROWS


def stats(x, *others):
    """Per channel ``(count, means..., co-moments...)`` as a ``(fields, C)`` torch tensor.

    With one other array ``w``: ``(n, mean x, mean w, <x-mx, x-mx>, <x-mx, w-mw>)``; with
    two, ``g`` and ``v``: ``(n, mx, mg, mv, Mxx, Mxv, Mxg, Mgv)`` (sums, not means, of the
    centered products)."""

    n, c = x.shape
    arrays = [t.detach().numpy() for t in (x, *others)]
    fields = 5 if len(others) == 1 else 8
    st = np.zeros((_blocks(n), fields, c), dtype=arrays[0].dtype)
    (_stats2 if len(others) == 1 else _stats3)(*arrays, st, BLOCK_ROWS)
    return torch.from_numpy(st[0].copy())


def combine(coef, x, *others):
    """``out = sum_i coef[2i] (t_i - coef[2i+1])`` over ``(x, *others)``; ``coef`` is ``(2k, C)``."""

    out = torch.empty_like(x)
    arrays = [t.detach().numpy() for t in (out, x, *others)]
    k = coef.contiguous().numpy()
    (_combine2 if len(others) == 1 else _combine3)(*arrays, k)
    return out
