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

The loops run over the channel axis innermost, where they vectorize.  Each thread takes one
contiguous run of blocks (:func:`_share`) in both passes, and writes its rows last row first,
so that the output pass starts on what the statistics pass of the same thread read last and
its cache still holds.  Only contiguous 2-D ``(N, C)`` inputs take this route.

:func:`jacobian` and :func:`hvp` do both passes, the per-channel coefficients between them
and the allocation of their work arrays in one compiled call, so that nothing but the two
passes touches memory: a dozen small torch operations on ``(C,)`` vectors in between cost as
much as a pass at ``(1024, 512)``, and even a few lines of Python cost tens of microseconds
there (each starts on caches that the pass has just flushed).  They also stand in for the
finiteness checks of their inputs: a mean is finite exactly when every term of its sum is
finite or the sum overflowed, so a non-finite merged mean makes them decline
(:data:`NONFINITE_MEAN`), as does a standard deviation that ``BatchNorm._sigma`` would refuse
(:data:`BAD_SIGMA`).
On a decline :mod:`bntheory.norms.batchnorm` runs its full checks and its torch route, which
name the bad argument, or compute the result when the inputs were finite after all.

Numba is optional: without it, or with ``BNTHEORY_FUSED=0`` in the environment, the layer
takes its blocked torch route (same formulas, more passes).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

try:
    import numba
    from numba import njit, prange
except ImportError:  # pragma: no cover - depends on the environment
    njit = None

#: Samples per statistics block: ``BLOCK_ROWS * C`` values of each input stay in cache.
BLOCK_ROWS = 64

#: Set to ``False`` to force the torch route (tests compare both routes).
ENABLED = njit is not None and os.environ.get("BNTHEORY_FUSED", "1") != "0"

_OPTS = dict(cache=True, fastmath={"contract"}, error_model="numpy")


#: Bytes whose addresses the CPU compares when it checks a load against the stores still in
#: flight: a load whose address agrees with a pending store's in these low bits waits for it
#: ("4K aliasing"), even when the two are different memory.
_ALIAS_BYTES = 4096


if njit is not None:
    # The loops below are written for LLVM's vectorizer: the per-block accumulators are 1-D
    # views of a scratch buffer laid out by scratch_buffer (not views of the output, which it
    # cannot tell apart from the inputs), and each merge loop writes one field and reads a
    # few others.

    @njit(**_OPTS)
    def scratch_buffer(x, accumulators, blocks):
        """A buffer for ``accumulators`` arrays of ``C`` values per block, and its layout
        ``(start, accumulator stride, block stride)`` in elements, for :func:`_acc`.

        The statistics loops read a row of every input and read and write a row of every
        accumulator per step.  When an accumulator lies at nearly the same address modulo
        :data:`_ALIAS_BYTES` as an input row (the inputs of a batch usually share one offset),
        the loads wait for unrelated stores: the pass then runs several times slower, by the
        luck of where the allocator put the accumulators.  Here they are spaced evenly around
        that ring, the inputs' offset (that of ``x``) in the largest gap.  (Compiled, as the
        kernels that call it: in Python its few lines cost 30 us after a pass over 16 MB.)"""
        es = x.itemsize
        c = x.shape[1]
        spacing = _ALIAS_BYTES // (accumulators + 1) // 64 * 64
        acc_stride = c * es + (spacing - c * es) % _ALIAS_BYTES  # = spacing (mod the ring)
        block_stride = (
            -(-accumulators * acc_stride // _ALIAS_BYTES) * _ALIAS_BYTES
        )  # = 0 (mod the ring)
        buf = np.empty((blocks * block_stride + _ALIAS_BYTES) // es, dtype=x.dtype)
        # bytes: at x's offset + spacing (addresses as signed integers, so that Numba's
        # arithmetic stays in integers)
        first = (np.intp(x.ctypes.data) + spacing - np.intp(buf.ctypes.data)) % _ALIAS_BYTES
        return buf, np.array([first // es, acc_stride // es, block_stride // es], dtype=np.int64)

    @njit(**_OPTS)
    def _acc(scratch, lay, b, i, C):
        """Accumulator ``i`` of block ``b``: ``C`` zeros in the scratch laid out by
        :func:`scratch_buffer`."""
        start = lay[0] + b * lay[2] + i * lay[1]
        a = scratch[start : start + C]
        a[:] = 0
        return a

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

    @njit(**_OPTS)
    def _nblocks(n, rows):
        """Statistics blocks of ``rows`` samples (the last may be shorter) in ``n`` samples."""
        return (n + rows - 1) // rows

    @njit(**_OPTS)
    def _share(t, threads, nb):
        """Blocks ``[lo, hi)`` of thread ``t`` of ``threads``: contiguous, in order.  The
        statistics and output passes split the rows alike, so each thread writes the rows it
        has just read (see :func:`combine2`)."""
        return t * nb // threads, (t + 1) * nb // threads

    @njit(**_OPTS)
    def _block2(x, w, st, b, rows, scratch, lay):
        """Block ``b``'s means of ``x``, ``w`` and centered co-moments, two-pass within it."""
        N, C = x.shape
        r0 = b * rows
        r1 = min(r0 + rows, N)
        mx = _acc(scratch, lay, b, 0, C)
        mw = _acc(scratch, lay, b, 1, C)
        for r in range(r0, r1):
            for c in range(C):
                mx[c] += x[r, c]
                mw[c] += w[r, c]
        cnt = r1 - r0
        for c in range(C):
            mx[c] /= cnt
            mw[c] /= cnt
        sxx = _acc(scratch, lay, b, 2, C)
        sxw = _acc(scratch, lay, b, 3, C)
        r = r0
        while r + 1 < r1:  # two samples per step: see _block3
            for c in range(C):
                dx = x[r, c] - mx[c]
                ex = x[r + 1, c] - mx[c]
                sxx[c] = (sxx[c] + dx * dx) + ex * ex
                sxw[c] = (sxw[c] + dx * (w[r, c] - mw[c])) + ex * (w[r + 1, c] - mw[c])
            r += 2
        if r < r1:
            for c in range(C):
                dx = x[r, c] - mx[c]
                sxx[c] += dx * dx
                sxw[c] += dx * (w[r, c] - mw[c])
        _put(st, b, cnt, (mx, mw, sxx, sxw))

    @njit(parallel=True, **_OPTS)
    def stats2(x, w, st, rows, scratch, lay, threads):
        """The statistics pass of ``J w``: every block of ``rows`` samples (each thread its
        run of blocks, :func:`_share`) into ``st[b]``, merged into ``st[0]``: the count, the
        means of ``x`` and ``w``, then :math:`M_{xx}`, :math:`M_{xw}`."""
        nb = st.shape[0]
        for t in prange(threads):
            lo, hi = _share(t, threads, nb)
            for b in range(lo, hi):
                _block2(x, w, st, b, rows, scratch, lay)
        _tree(st, nb, 2, np.array([[0, 0], [0, 1]]))

    @njit(**_OPTS)
    def _block3(x, g, v, st, b, rows, scratch, lay):
        """Block ``b``'s means of ``x``, ``g``, ``v`` and centered co-moments, two-pass
        within it."""
        N, C = x.shape
        r0 = b * rows
        r1 = min(r0 + rows, N)
        mx = _acc(scratch, lay, b, 0, C)
        mg = _acc(scratch, lay, b, 1, C)
        mv = _acc(scratch, lay, b, 2, C)
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
        sxx = _acc(scratch, lay, b, 3, C)
        sxv = _acc(scratch, lay, b, 4, C)
        sxg = _acc(scratch, lay, b, 5, C)
        sgv = _acc(scratch, lay, b, 6, C)
        # Two samples per step in the centered sweep: each accumulator is loaded and stored
        # once for both (the sums keep their order, so the bits are those of one sample per
        # step; the sweep reads the block from cache and is bound by its loads and stores).
        r = r0
        while r + 1 < r1:
            for c in range(C):
                dx = x[r, c] - mx[c]
                dg = g[r, c] - mg[c]
                dv = v[r, c] - mv[c]
                ex = x[r + 1, c] - mx[c]
                eg = g[r + 1, c] - mg[c]
                ev = v[r + 1, c] - mv[c]
                sxx[c] = (sxx[c] + dx * dx) + ex * ex
                sxv[c] = (sxv[c] + dx * dv) + ex * ev
                sxg[c] = (sxg[c] + dx * dg) + ex * eg
                sgv[c] = (sgv[c] + dg * dv) + eg * ev
            r += 2
        if r < r1:
            for c in range(C):
                dx = x[r, c] - mx[c]
                dg = g[r, c] - mg[c]
                dv = v[r, c] - mv[c]
                sxx[c] += dx * dx
                sxv[c] += dx * dv
                sxg[c] += dx * dg
                sgv[c] += dg * dv
        _put(st, b, cnt, (mx, mg, mv, sxx, sxv, sxg, sgv))

    @njit(parallel=True, **_OPTS)
    def stats3(x, g, v, st, rows, scratch, lay, threads):
        """The statistics pass of the HVP, as :func:`stats2`: the count, the means of ``x``,
        ``g``, ``v``, then :math:`M_{xx}`, :math:`M_{xv}`, :math:`M_{xg}`, :math:`M_{gv}`."""
        nb = st.shape[0]
        for t in prange(threads):
            lo, hi = _share(t, threads, nb)
            for b in range(lo, hi):
                _block3(x, g, v, st, b, rows, scratch, lay)
        # fields: n, mx, mg, mv, Mxx, Mxv, Mxg, Mgv (means 0 = x, 1 = g, 2 = v)
        _tree(st, nb, 3, np.array([[0, 0], [0, 2], [0, 1], [1, 2]]))

    @njit(**_OPTS)
    def _rows(t, threads, rows, N):
        """Rows ``[r0, r1)`` of thread ``t``: those of its statistics blocks (:func:`_share`)."""
        lo, hi = _share(t, threads, _nblocks(N, rows))
        return lo * rows, min(hi * rows, N)

    @njit(parallel=True, **_OPTS)
    def combine2(out, x, w, k, rows, threads, last_first):
        """``out = k0 (x - k1) + k2 (w - k3)``, ``k`` of shape ``(4, C)``.

        Each thread takes the rows of its statistics blocks (:func:`_share`); with
        ``last_first`` (:func:`last_first`) it starts from the last, which its statistics
        sweep read last and its cache may still hold (``benchmarks/fused_anatomy.py`` times
        both orders after the statistics pass)."""
        N, C = out.shape
        for t in prange(threads):
            r0, r1 = _rows(t, threads, rows, N)
            for i in range(r1 - r0):
                r = r1 - 1 - i if last_first else r0 + i
                for c in range(C):
                    out[r, c] = k[0, c] * (x[r, c] - k[1, c]) + k[2, c] * (w[r, c] - k[3, c])

    @njit(parallel=True, **_OPTS)
    def combine3(out, x, g, v, k, rows, threads, last_first):
        """``out = k0 (x - k1) + k2 (g - k3) + k4 (v - k5)``, ``k`` of shape ``(6, C)``; rows
        as in :func:`combine2`."""
        N, C = out.shape
        for t in prange(threads):
            r0, r1 = _rows(t, threads, rows, N)
            for i in range(r1 - r0):
                r = r1 - 1 - i if last_first else r0 + i
                for c in range(C):
                    out[r, c] = (
                        k[0, c] * (x[r, c] - k[1, c])
                        + k[2, c] * (g[r, c] - k[3, c])
                        + k[4, c] * (v[r, c] - k[5, c])
                    )

    @njit(**_OPTS)
    def _means_finite(st0, means):
        """Whether the merged means (fields ``1..means``) are all finite: a mean is finite
        when every term of its sum is (NaN and Inf propagate), so this is the inputs'
        finiteness check; a non-finite mean may also be an overflowed sum."""
        for p in range(1, means + 1):
            for c in range(st0.shape[1]):
                if not np.isfinite(st0[p, c]):
                    return False
        return True

    @njit(**_OPTS)
    def _sigma_ok(sigma, eps):
        """The condition of ``BatchNorm._sigma``: finite, and positive when ``eps == 0``."""
        return np.isfinite(sigma) and (eps != 0 or sigma > 0)

    @njit(**_OPTS)
    def jacobian_into(x, w, gamma, eps, st, k, out, rows, scratch, lay, threads, last_first):
        """``J w`` into ``out``; ``k`` (4, C) receives ``(coef, mu, scale, w_bar)``.  Returns
        0, or 1 (a mean is not finite) or 2 (a standard deviation fails ``_sigma_ok``), in
        which case ``out`` is not written."""
        stats2(x, w, st, rows, scratch, lay, threads)
        st0 = st[0]
        if not _means_finite(st0, 2):
            return 1
        m = x.shape[0]
        for c in range(x.shape[1]):
            sigma = np.sqrt(st0[3, c] / m + eps)
            if not _sigma_ok(sigma, eps):
                return 2
            scale = (gamma[c] if gamma.shape[0] else 1.0) / sigma
            k[0, c] = -scale * (st0[4, c] / m / sigma) / sigma
            k[1, c] = st0[1, c]
            k[2, c] = scale
            k[3, c] = st0[2, c]
        combine2(out, x, w, k, rows, threads, last_first)
        return 0

    @njit(**_OPTS)
    def hvp_into(x, g, v, gamma, eps, st, k, out, rows, scratch, lay, threads, last_first):
        """The Hessian-vector product into ``out``; ``k`` (6, C) receives its coefficients.
        Returns 0, 1 or 2 as :func:`jacobian_into`."""
        stats3(x, g, v, st, rows, scratch, lay, threads)
        st0 = st[0]
        if not _means_finite(st0, 3):
            return 1
        m = x.shape[0]
        for c in range(x.shape[1]):
            sigma = np.sqrt(st0[4, c] / m + eps)
            if not _sigma_ok(sigma, eps):
                return 2
            a = st0[5, c] / m / sigma
            b = st0[6, c] / m / sigma
            kk = (gamma[c] if gamma.shape[0] else 1.0) / (sigma * sigma)
            k[0, c] = kk * (3 * a * b - st0[7, c] / m) / sigma
            k[1, c] = st0[1, c]
            k[2, c] = -kk * a
            k[3, c] = st0[2, c]
            k[4, c] = -kk * b
            k[5, c] = st0[3, c]
        combine3(out, x, g, v, k, rows, threads, last_first)
        return 0

    @njit(**_OPTS)
    def _jacobian(x, w, gamma, eps, out, rows, threads, last_first):
        """:func:`jacobian_into` with its work arrays allocated here: statistics ``(blocks,
        5, C)``, coefficients ``(4, C)`` and the accumulators (every field but the count)."""
        nb = _nblocks(x.shape[0], rows)
        scratch, lay = scratch_buffer(x, 4, nb)
        st = np.empty((nb, 5, x.shape[1]), dtype=x.dtype)
        k = np.empty((4, x.shape[1]), dtype=x.dtype)
        return jacobian_into(x, w, gamma, eps, st, k, out, rows, scratch, lay, threads, last_first)

    @njit(**_OPTS)
    def _hvp(x, g, v, gamma, eps, out, rows, threads, last_first):
        """:func:`hvp_into` with its work arrays allocated here, as :func:`_jacobian`."""
        nb = _nblocks(x.shape[0], rows)
        scratch, lay = scratch_buffer(x, 7, nb)
        st = np.empty((nb, 8, x.shape[1]), dtype=x.dtype)
        k = np.empty((6, x.shape[1]), dtype=x.dtype)
        return hvp_into(x, g, v, gamma, eps, st, k, out, rows, scratch, lay, threads, last_first)


def usable(x, *others) -> bool:
    """Whether the fused route applies: Numba present and enabled, CPU, float32/float64,
    2-D ``(N, C)``, every tensor contiguous with the same shape and dtype."""
    if (
        not ENABLED
        or x.device.type != "cpu"
        or x.dim() != 2
        or x.dtype not in (torch.float64, torch.float32)
    ):
        return False
    return all(
        t.shape == x.shape and t.dtype == x.dtype and t.device == x.device for t in others
    ) and all(t.is_contiguous() for t in (x, *others))


def block_count(n: int) -> int:
    """Statistics blocks of :data:`BLOCK_ROWS` samples in ``n`` samples (the last may be
    shorter): ``_nblocks(n, BLOCK_ROWS)``, without Numba."""
    return (n + BLOCK_ROWS - 1) // BLOCK_ROWS


def l2_bytes(cache: Path = Path("/sys/devices/system/cpu/cpu0/cache")) -> int | None:
    """The CPU's per-core L2 cache in bytes, from Linux's sysfs; ``None`` where it does not say."""
    for index in sorted(cache.glob("index*")):
        try:
            if (index / "level").read_text().strip() != "2":
                continue
            if (index / "type").read_text().strip() not in ("Unified", "Data"):
                continue
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        scale = {"K": 1 << 10, "M": 1 << 20}.get(size[-1:], 1)
        digits = size.rstrip("KM")
        if digits.isdigit():
            return int(digits) * scale
    return None


#: The per-core L2 cache in bytes, or ``None`` where unknown (then :func:`last_first` says yes).
L2_BYTES = l2_bytes()


def last_first(arrays: int, x: np.ndarray) -> bool:
    """Whether the output pass takes each thread's rows last row first: when the L2 holds a
    whole statistics block of the ``arrays`` inputs, the last one a thread read is still
    there and the output pass starts on it (at ``(1024, 512)`` on a 2 MB L2 the two passes
    take 0.91-0.93x the time of the same passes with rows forward,
    ``benchmarks/fused_anatomy.py``).
    Where less than a block fits there is nothing to start on, and there (on a 512 KB L2)
    a reversed pass was measured slower than a forward one.  The bits are the same."""
    return L2_BYTES is None or L2_BYTES >= arrays * BLOCK_ROWS * x.shape[1] * x.itemsize


def threads(n: int) -> int:
    """Threads the kernels split ``n`` samples between: Numba's thread count, at most one
    per block.  (Passed in, not asked for inside a kernel: that would keep Numba from
    caching the compiled kernel.)"""
    return max(1, min(numba.get_num_threads(), block_count(n)))


#: Status of :func:`jacobian` and :func:`hvp`: the result is valid.
OK = 0
#: Status: a mean of an input is not finite (a non-finite entry, or a sum that overflowed).
NONFINITE_MEAN = 1
#: Status: a channel's ``sqrt(var + eps)`` is not finite, or is 0 with ``eps = 0``.
BAD_SIGMA = 2


def _run(kernel, weight, eps, x, *others):
    """Call ``kernel`` on the NumPy views of ``(x, *others)``; ``(out, status)``."""
    arrays = [t.detach().numpy() for t in (x, *others)]
    gamma = (
        np.empty(0, dtype=arrays[0].dtype)
        if weight is None
        else weight.detach().contiguous().numpy()
    )
    out = torch.empty_like(x)
    order = last_first(len(arrays), arrays[0])
    status = kernel(*arrays, gamma, float(eps), out.numpy(), BLOCK_ROWS, threads(x.shape[0]), order)
    return out, int(status)


def jacobian(x, w, weight, eps):
    """Training-mode ``J w`` of BatchNorm (``J`` is symmetric, so also ``J^T w``) in one
    call: statistics, coefficients and result.  Returns ``(out, status)``; ``out`` is
    meaningful only when ``status == OK`` (see :data:`NONFINITE_MEAN`, :data:`BAD_SIGMA`)."""
    return _run(_jacobian, weight, eps, x, w)


def hvp(x, g, v, weight, eps):
    """Training-mode BatchNorm Hessian-vector product in one call, as :func:`jacobian`."""
    return _run(_hvp, weight, eps, x, g, v)


def combine(coef, x, *others):
    """``out = sum_i coef[2i] (t_i - coef[2i+1])`` over ``(x, *others)``; ``coef`` is ``(2k, C)``:
    the output pass alone (the benchmark times it)."""

    out = torch.empty_like(x)
    arrays = [t.detach().numpy() for t in (out, x, *others)]
    k = coef.contiguous().numpy()
    order = last_first(len(arrays) - 1, arrays[1])
    (combine2 if len(others) == 1 else combine3)(*arrays, k, BLOCK_ROWS, threads(x.shape[0]), order)
    return out
