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
    # The loops below are written for LLVM's vectorizer: the per-block accumulators are local
    # 1-D arrays (not views of the output, which it cannot tell apart from the inputs), and
    # each merge loop writes one field and reads a few others.

    @njit(**_OPTS)
    def _tree(st, nb, means, pairs):
        """Merge block statistics ``st[0:nb]`` pairwise into ``st[0]``.  Field 0 is the count
        (the same in every channel of a block), fields ``1..means`` the means, and field
        ``means + 1 + q`` the centered co-moment of the means ``pairs[q]``."""
        C = st.shape[2]
        d = np.empty((means, C), dtype=st.dtype)
        step = 1
        while step < nb:
            for i in range(0, nb - step, 2 * step):
                j = i + step
                n = st[i, 0, 0] + st[j, 0, 0]
                f = st[j, 0, 0] / n
                w = st[i, 0, 0] * f
                for p in range(means):
                    for c in range(C):
                        d[p, c] = st[j, p + 1, c] - st[i, p + 1, c]
                for q in range(pairs.shape[0]):
                    k, p0, p1 = means + 1 + q, pairs[q, 0], pairs[q, 1]
                    for c in range(C):
                        st[i, k, c] += st[j, k, c] + d[p0, c] * d[p1, c] * w
                for p in range(means):
                    for c in range(C):
                        st[i, p + 1, c] += d[p, c] * f
                for c in range(C):
                    st[i, 0, c] = n
            step *= 2

    @njit(**_OPTS)
    def _put(st, b, cnt, fields):
        """Block ``b``'s statistics into ``st[b]``: the count in field 0, then ``fields``."""
        st[b, 0, :] = cnt
        for k in range(len(fields)):
            st[b, k + 1] = fields[k]

    @njit(parallel=True, **_OPTS)
    def _stats2(x, w, st, rows):
        N, C = x.shape
        nb = st.shape[0]
        for b in prange(nb):
            r0 = b * rows
            r1 = min(r0 + rows, N)
            mx = np.zeros_like(x[0])
            mw = np.zeros_like(x[0])
            for r in range(r0, r1):
                for c in range(C):
                    mx[c] += x[r, c]
                    mw[c] += w[r, c]
            cnt = r1 - r0
            for c in range(C):
                mx[c] /= cnt
                mw[c] /= cnt
            sxx = np.zeros_like(x[0])
            sxw = np.zeros_like(x[0])
            for r in range(r0, r1):
                for c in range(C):
                    dx = x[r, c] - mx[c]
                    sxx[c] += dx * dx
                    sxw[c] += dx * (w[r, c] - mw[c])
            _put(st, b, cnt, (mx, mw, sxx, sxw))
        _tree(st, nb, 2, np.array([[0, 0], [0, 1]]))

    @njit(parallel=True, **_OPTS)
    def _stats3(x, g, v, st, rows):
        N, C = x.shape
        nb = st.shape[0]
        for b in prange(nb):
            r0 = b * rows
            r1 = min(r0 + rows, N)
            mx = np.zeros_like(x[0])
            mg = np.zeros_like(x[0])
            mv = np.zeros_like(x[0])
            for r in range(r0, r1):
                for c in range(C):
                    mx[c] += x[r, c]
                    mg[c] += g[r, c]
                    mv[c] += v[r, c]
            cnt = r1 - r0
            for c in range(C):
                mx[c] /= cnt
                mg[c] /= cnt
                mv[c] /= cnt
            sxx = np.zeros_like(x[0])
            sxv = np.zeros_like(x[0])
            sxg = np.zeros_like(x[0])
            sgv = np.zeros_like(x[0])
            for r in range(r0, r1):
                for c in range(C):
                    dx = x[r, c] - mx[c]
                    dg = g[r, c] - mg[c]
                    dv = v[r, c] - mv[c]
                    sxx[c] += dx * dx
                    sxv[c] += dx * dv
                    sxg[c] += dx * dg
                    sgv[c] += dg * dv
            _put(st, b, cnt, (mx, mg, mv, sxx, sxv, sxg, sgv))
        # fields: n, mx, mg, mv, Mxx, Mxv, Mxg, Mgv (means 0 = x, 1 = g, 2 = v)
        _tree(st, nb, 3, np.array([[0, 0], [0, 2], [0, 1], [1, 2]]))

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
    st = np.empty((_blocks(n), fields, c), dtype=arrays[0].dtype)
    (_stats2 if len(others) == 1 else _stats3)(*arrays, st, BLOCK_ROWS)
    return torch.from_numpy(st[0].copy())


def combine(coef, x, *others):
    """``out = sum_i coef[2i] (t_i - coef[2i+1])`` over ``(x, *others)``; ``coef`` is ``(2k, C)``."""

    out = torch.empty_like(x)
    arrays = [t.detach().numpy() for t in (out, x, *others)]
    k = coef.contiguous().numpy()
    (_combine2 if len(others) == 1 else _combine3)(*arrays, k)
    return out
