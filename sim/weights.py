"""Weight generators, exact in law, batched over samples and matrix entries.

Every entry of V_k (and W_k for `res3`) is a zero-mean Gaussian (or uniform, iid only) process
along the layer index k = 0..L-1, independent across the d x d positions, with per-layer variance
1/d (docs/theory.md §2):

- `iid`: independent layers; N(0, 1/d) or U[-sqrt(3/d), sqrt(3/d)].
- `fgn`: fractional Gaussian noise of Hurst index H, by circulant embedding (Davies-Harte, of
  size `embedding_size(L)`: 2L, or a little more where 2L is slow for the FFT); if the embedding
  had a negative eigenvalue, an exact spectral square root of the Toeplitz covariance.
- `fbm`: B_H(t_k), t_k = (k + 1) / L, as L**-H times the cumulative sum of unit fGn.
- `smooth`: stationary Gaussian process in t = k / L with kernel exp(-(t - s)**2 / (2 l**2)),
  by a spectral square root of its covariance (eigenvalues below 1e-13 of the largest dropped).
- `shared`: one draw used at every layer.

fgn paths of a cell too large for the memory budget can be served by windows of consecutive layers
(`window`): each window is cut from a fresh generation of the whole paths from the same seed, so
the numbers are bitwise those of the whole paths, at the cost of one generation per window served.

Heun and RK4 steppers use L + 1 weight sets (k = 0..L, see `Cell.weight_layers`): the paths are
then one layer longer, on the same time grid (t_k = k / L for smooth, (k + 1) / L for fbm). The
'antisym' block has one matrix K per layer, served in the place of V.

Randomness: sample i of a cell draws from its own `torch.Generator`, seeded from the cell's
`draw_seed()`, the index i and a stream tag. So a sample's numbers do not depend on which chunk it
is simulated in, on beta, or on how many samples the cell has; for fgn and fbm the seed does not
depend on H either (`Cell.draw_identity`), so a Hurst sweep uses common random numbers and its
standard normals can be drawn once for all H (`sim.workspace`). The standard normals are always
drawn in float32 and then cast, so that float32 and float64 runs see the same draws and differ
only in arithmetic. Numbers are reproducible on a given device type (CPU and CUDA streams differ).
"""

from __future__ import annotations

import bisect
import hashlib
import math
from collections.abc import Iterator
from functools import lru_cache

import numpy as np
import torch

from sim.cell import Cell
from sim.workspace import Workspace, scratch

# Entries per sample in one iid layer block: the block length depends on the width only, so the
# draws (seeded per block) never depend on the memory budget.
_IID_BLOCK_ENTRIES = 2**20
# Random numbers drawn at once when generating smooth paths (bounds the generation scratch).
_DRAW_NUMBERS = 2**23
# Real fGn paths made per FFT call: two per complex path, so 128 complex paths of length 2L (a few
# MB for L ~ 1000: the draws, spectrum and FFT of a chunk stay in cache).
_FGN_CHUNK = 256
# Relative size below which a negative circulant eigenvalue is rounding error, not a failure.
_EMBED_TOL = 1e-10
# Eigenvalues of a covariance below this fraction of the largest are dropped by the spectral root.
_EIGENVALUE_CUTOFF = 1e-13


def substream_seed(seed: int, *parts: object) -> int:
    """A 63-bit seed derived from a root seed and labels (stable across runs and platforms)."""
    text = ":".join(str(p) for p in (seed, *parts))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little") >> 1


def make_generator(seed: int, device: torch.device) -> torch.Generator:
    """A torch.Generator on `device` seeded with `seed`."""
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


# ------------------------------------------------------------------------ covariances
def fgn_autocovariance(hurst: float, lags: np.ndarray) -> np.ndarray:
    """gamma_H(n) = (|n+1|^2H - 2|n|^2H + |n-1|^2H) / 2 for unit-variance fGn."""
    n = np.abs(np.asarray(lags, dtype=np.float64))
    two_h = 2.0 * hurst
    return 0.5 * (np.abs(n + 1) ** two_h - 2 * n**two_h + np.abs(n - 1) ** two_h)


def smooth_covariance(lengthscale: float, length: int, depth: int | None = None) -> np.ndarray:
    """(n, n) covariance exp(-(t_j - t_k)^2 / (2 l^2)) on t_k = k / L, k < n = length (L = depth,
    default n)."""
    t = np.arange(length, dtype=np.float64) / (length if depth is None else depth)
    return np.exp(-((t[:, None] - t[None, :]) ** 2) / (2.0 * lengthscale**2))


def fbm_covariance(hurst: float, length: int) -> np.ndarray:
    """(L, L) covariance of B_H(t_k), t_k = (k + 1) / L."""
    t = np.arange(1, length + 1, dtype=np.float64) / length
    two_h = 2.0 * hurst
    return 0.5 * (t[:, None] ** two_h + t[None, :] ** two_h - np.abs(t[:, None] - t[None, :]) ** two_h)


@lru_cache(maxsize=256)
def embedding_size(length: int) -> int:
    """Size n of the circulant embedding of fGn of length L: n = 2m for the smallest m >= L whose
    prime factors are 2, 3, 5 and 7 (so n = 2L whenever L is such a number, as for L = 1000).

    Any n >= 2L - 2 embeds the Toeplitz covariance exactly, but the FFT of a length with a large
    prime factor is several times slower. Measured with torch's CPU FFT (128 complex paths, one
    thread): 2L = 2050 took 5.0 times as long as 2058, 3556 6.2 times 3584, 2018 2.7 times 2048,
    2002 1.8 times 2016; odd lengths (2025, 2187) were also slower than nearby even ones.
    """
    if length < 1:
        raise ValueError(f"length={length} is not allowed: expected an integer >= 1")
    return 2 * _smooth_ceiling(length)


def _smooth_ceiling(length: int) -> int:
    """The smallest m >= length whose prime factors are 2, 3, 5 and 7: over every 3^b 5^c 7^e up
    to length, the least power of two that lifts it to length (a few thousand products at
    length = 10^12, where counting upwards from length could take minutes)."""
    best = 1 << (length - 1).bit_length()
    p7 = 1
    while p7 < best:
        p5 = p7
        while p5 < best:
            p3 = p5
            while p3 < best:
                candidate = p3 << (-(-length // p3) - 1).bit_length()
                best = min(best, candidate)
                p3 *= 3
            p5 *= 5
        p7 *= 7
    return best


def eigenvalue_bytes(size: int) -> int:
    """Peak bytes of `circulant_eigenvalues` for an embedding of `size`: the lags, the first row,
    its complex FFT, the real part and the clipped copy (56 bytes per entry), the result kept."""
    return 64 * size


@lru_cache(maxsize=64)
def circulant_eigenvalues(hurst: float, length: int) -> np.ndarray | None:
    """Eigenvalues of the Davies-Harte embedding of fGn of length L (size n = embedding_size(L)),
    or None.

    The embedding's first row is g_min(j, n - j), j = 0..n-1: (g0, g1, ..., g_{L-1}, g_L, g_{L-1},
    ..., g1) when n = 2L. None means an eigenvalue is genuinely negative, and the caller must use
    the exact spectral root instead.
    """
    j = np.arange(embedding_size(length))
    row = fgn_autocovariance(hurst, np.minimum(j, j.size - j))
    eig = np.fft.fft(row).real
    if eig.min() < -_EMBED_TOL * eig.max():
        return None
    return np.clip(eig, 0.0, None)


@lru_cache(maxsize=16)
def _spectral_root_cached(kind: str, param: float, length: int, depth: int | None = None) -> np.ndarray:
    if kind == "fgn":
        cov = fgn_autocovariance(param, np.arange(length)[:, None] - np.arange(length)[None, :])
    elif kind == "smooth":
        cov = smooth_covariance(param, length, depth)
    else:
        raise ValueError(f"kind={kind!r} is not allowed: 'fgn' or 'smooth'")
    return spectral_root(cov)


def spectral_root(cov: np.ndarray) -> np.ndarray:
    """F (L, r) with F F^T = cov up to the dropped eigenvalues (< 1e-13 of the largest)."""
    eig, vec = np.linalg.eigh(cov)
    keep = eig > _EIGENVALUE_CUTOFF * eig.max()
    return vec[:, keep] * np.sqrt(eig[keep])[None, :]


# ----------------------------------------------------------------------- the source
class WeightSource:
    """The weights of a chunk of samples of one cell, served by blocks of consecutive layers.

    `block(b)` returns (V, W) of shape (S, B_b, d, d) for layers [starts[b], starts[b+1]); W is
    None for the blocks 'res1', 'linear' and 'antisym' (whose K is served as V). `layer(k)`
    returns one layer's (V, W), (S, d, d) each, keeping the last two blocks. Processes with
    memory (fgn, fbm, smooth) are generated whole at construction: O(L d^2) per sample. iid
    weights are drawn block by block, so they need only O(B d^2); `shared` needs O(d^2).

    Storage is layer-major, (layers, S, entries): the matrices of one layer for all samples are
    contiguous, which the per-layer batched products read faster than matrices a path apart.
    With a `Workspace`, the large buffers are the slot's reused ones (see `sim.workspace`), and
    with `keep_draws` the fGn standard normals are kept there for the next cell of the same draws.
    """

    def __init__(self, cell: Cell, sample_ids: range, device: torch.device, dtype: torch.dtype,
                 workspace: Workspace | None = None, slot: int = 0, window: int | None = None):
        self.cell = cell
        self.sample_ids = sample_ids
        self.device = device
        self.dtype = dtype
        self._ws = workspace
        self._slot = slot
        depth = cell.weight_layers
        self.matrices = 2 if cell.block == "res3" else 1
        self.entries = self.entries_per_sample(cell)
        self._seed = cell.draw_seed()
        if window is not None and (cell.init != "fgn" or not 1 <= window):
            raise ValueError(f"window={window} is not allowed for init={cell.init!r}: fgn cells take a "
                             f"window of at least 1 layer, other inits none")
        self.windowed = window is not None and window < depth
        if cell.init == "iid":
            size = max(1, _IID_BLOCK_ENTRIES // self.entries)
        elif self.windowed:
            size = window
        else:
            size = depth
        self.starts = list(range(0, depth, size)) + [depth]
        # The last two blocks served: a multi-stage step reads layers k and k + 1, which may lie
        # in neighbouring blocks, and iid blocks are regenerated when asked for again.
        self._cache: dict[int, tuple[torch.Tensor, torch.Tensor | None]] = {}
        self._keep = 1 if cell.stepper == "euler" else 2
        self._paths: torch.Tensor | None = None
        self.generations = 0  # whole-path generations so far (one per window served when windowed)
        if cell.init in ("fgn", "fbm", "smooth", "shared") and not self.windowed:
            self._paths = self._generate_paths()

    @property
    def n_blocks(self) -> int:
        return len(self.starts) - 1

    @staticmethod
    def entries_per_sample(cell: Cell) -> int:
        """Weight entries of one layer of one sample: d^2 per matrix, two matrices for res3."""
        return (2 if cell.block == "res3" else 1) * cell.width**2

    @staticmethod
    def bytes_per_sample(cell: Cell, itemsize: int, keep_draws: bool = False, window: int | None = None) -> int:
        """Bytes of weights held per sample (the resident part, not generation scratch); with
        `keep_draws`, the kept fGn standard normals too (never kept when windowed)."""
        entries = WeightSource.entries_per_sample(cell)
        if window is not None and window < cell.weight_layers:
            held = 1 if cell.stepper == "euler" else 2
            return entries * held * window * itemsize
        if cell.init == "iid":
            blocks = 1 if cell.stepper == "euler" else 2
            layers = blocks * min(cell.weight_layers, max(1, _IID_BLOCK_ENTRIES // entries))
        elif cell.init == "shared":
            layers = 1
        else:
            layers = cell.weight_layers
        kept = 0
        if keep_draws and cell.init in ("fgn", "fbm"):
            kept = 4 * 2 * WeightSource._fgn_pairs(entries) * embedding_size(cell.weight_layers)
        return entries * layers * itemsize + kept

    @staticmethod
    def scratch_bytes(cell: Cell, itemsize: int, windowed: bool = False, budget: int | None = None) -> int:
        """Peak extra bytes while generating one sample's paths (float32 draws, FFT buffers, the
        circulant eigenvalues). Computed from the sizes alone, except that a windowed fgn cell
        asks whether its embedding holds (which builds the eigenvalues): not when the rest
        already exceeds `budget` bytes."""
        entries = WeightSource.entries_per_sample(cell)
        layers = cell.weight_layers
        if cell.init in ("fgn", "fbm"):
            size = embedding_size(layers)
            pairs = (min(entries, _FGN_CHUNK) + 1) // 2
            # float32 draws, the complex spectrum, its FFT and the FFT's own temporary (2 itemsize
            # each), a cumsum for fbm; and the eigenvalues while they are computed and held
            cumsum = entries * layers * itemsize if cell.init == "fbm" else 0
            fft = pairs * size * (2 * 4 + 3 * 2 * itemsize) + cumsum + eigenvalue_bytes(size)
            # windowed through the spectral root (where the embedding is refused): whole paths of
            # one draw's entries, then the window's rows
            spectral = 0
            if windowed and (budget is None or fft <= budget) and circulant_eigenvalues(cell.hurst, layers) is None:
                spectral = layers * min(entries, WeightSource._entries_per_draw(layers)) * (2 * itemsize + 4)
            return max(fft, spectral)
        if cell.init == "smooth":
            return min(entries, WeightSource._entries_per_draw(layers)) * layers * (4 + itemsize)
        if cell.init == "iid":
            return entries * min(layers, max(1, _IID_BLOCK_ENTRIES // entries)) * 4 * 2
        return entries * 4 * 2

    @staticmethod
    def _fgn_pairs(entries: int) -> int:
        """Complex paths drawn for `entries` real ones: two per complex path, chunk by chunk."""
        full, rest = divmod(entries, _FGN_CHUNK)
        return full * (_FGN_CHUNK // 2) + (rest + 1) // 2

    def _buffer(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        return scratch(self._ws, self._slot, name, shape, dtype, self.device)

    def _block_buffer(self, name: str, shape: tuple[int, ...]) -> torch.Tensor:
        """Memory for one served block: Euler keeps one block at a time, so the slot's buffer
        `name` can hold it; a multi-stage step keeps two, each in its own memory."""
        if self._keep == 1:
            return self._buffer(name, shape, self.dtype)
        return torch.empty(shape, dtype=self.dtype, device=self.device)

    def _rng(self, local: int, tag: str) -> torch.Generator:
        return make_generator(substream_seed(self._seed, self.sample_ids[local], tag), self.device)

    def _normals(self, gen: torch.Generator, *shape: int) -> torch.Tensor:
        draw = torch.randn(*shape, generator=gen, device=self.device, dtype=torch.float32)
        return draw.to(self.dtype)

    def _generate_paths(self) -> torch.Tensor:
        """(L_stored, S, entries) paths scaled to variance 1/d per layer, L_stored = 1 for 'shared'."""
        cell, n = self.cell, len(self.sample_ids)
        stored = 1 if cell.init == "shared" else cell.weight_layers
        out = self._buffer("paths", (stored, n, self.entries), self.dtype)
        self.generations += 1
        for local in range(n):
            self._one_sample_paths(local, out[:, local])
        if cell.init not in ("fgn", "fbm"):  # fGn folds the factor into its spectrum
            out.mul_(1.0 / math.sqrt(self.cell.width))
        return out

    def _one_sample_paths(self, local: int, dest: torch.Tensor) -> None:
        """Fill dest (L_stored, entries) with one sample's paths: unit variance, except fgn and
        fbm, which come already scaled by 1/sqrt(d)."""
        cell, depth, entries = self.cell, self.cell.depth, self.entries
        if cell.init in ("fgn", "fbm"):
            self._fgn(local, dest)  # fgn and fbm both start from fGn
            if cell.init == "fbm":
                dest.copy_(torch.cumsum(dest, dim=0)).mul_(float(depth) ** (-cell.hurst))
            return
        gen = self._rng(local, "paths")
        if cell.init == "shared":
            dest.copy_(self._normals(gen, 1, entries))
            return
        extra = None if cell.weight_layers == depth else depth
        root = torch.as_tensor(_spectral_root_cached("smooth", cell.lengthscale, cell.weight_layers, extra),
                               device=self.device, dtype=self.dtype)
        for lo in range(0, entries, self._entries_per_draw(root.shape[1])):
            hi = min(entries, lo + self._entries_per_draw(root.shape[1]))
            torch.matmul(root, self._normals(gen, root.shape[1], hi - lo), out=dest[:, lo:hi])

    @staticmethod
    def _entries_per_draw(length: int) -> int:
        """Paths generated per random draw: about 2**23 numbers per draw whatever L, so that the
        scratch memory is bounded; it depends only on L (part of the cell's identity)."""
        return max(2, (_DRAW_NUMBERS // max(1, length)) // 2 * 2)

    def _fgn_draws(self, local: int, size: int) -> Iterator[tuple[int, torch.Tensor]]:
        """One sample's float32 standard normals, chunk by chunk of _FGN_CHUNK entries: (first
        entry, draws (pairs, size, 2)). Kept in the workspace when it keeps draws (the seed does not
        depend on H, so the next cell of a Hurst sweep finds them there; never for windowed cells);
        otherwise each chunk is drawn into the same scratch, so only one chunk is ever held."""
        store = None
        if self._ws is not None and self._ws.keep_draws and not self.windowed:
            key = (self._seed, self.sample_ids.start, self.sample_ids.stop, size, self.entries)
            store = self._ws.draws(self._slot, key)
        held = None if store is None else store.get(local)
        if held is None and store is not None:
            held = torch.empty(self._fgn_pairs(self.entries), size, 2, device=self.device, dtype=torch.float32)
        gen = None if store is not None and local in store else self._rng(local, "paths")
        at = 0
        for lo in range(0, self.entries, _FGN_CHUNK):
            count = (min(self.entries, lo + _FGN_CHUNK) - lo + 1) // 2
            if held is None:
                draws = self._buffer("normals", (count, size, 2), torch.float32)
            else:
                draws = held[at:at + count]
            if gen is not None:
                draws.normal_(generator=gen)
            at += count
            yield lo, draws
        if store is not None:
            store[local] = held

    def _fgn(self, local: int, dest: torch.Tensor, first: int = 0, stop: int | None = None) -> None:
        """Fill dest (stop - first, entries) with layers [first, stop) of independent fGn paths of
        Hurst index H and variance 1/d (stop defaults to L). The whole paths are generated whatever
        the rows asked for, so the rows are bitwise those of the whole paths."""
        depth, hurst, entries = self.cell.weight_layers, self.cell.hurst, self.entries
        stop = depth if stop is None else stop
        whole = first == 0 and stop == depth
        eig = circulant_eigenvalues(hurst, depth)
        if eig is None:
            gen = self._rng(local, "paths")
            root = torch.as_tensor(_spectral_root_cached("fgn", hurst, depth) / math.sqrt(self.cell.width),
                                   device=self.device, dtype=self.dtype)
            step = self._entries_per_draw(root.shape[1])
            for lo in range(0, entries, step):
                hi = min(entries, lo + step)
                normals = self._normals(gen, root.shape[1], hi - lo)
                if whole:
                    torch.matmul(root, normals, out=dest[:, lo:hi])
                else:  # the same whole product as above, then the window's rows
                    full = self._buffer("spectral", (depth, hi - lo), self.dtype)
                    dest[:, lo:hi].copy_(torch.matmul(root, normals, out=full)[first:stop])
            return
        size = embedding_size(depth)
        scale = torch.as_tensor(np.sqrt(eig / (size * self.cell.width)), device=self.device, dtype=self.dtype)
        cdtype = torch.complex64 if self.dtype == torch.float32 else torch.complex128
        chunk_pairs = (min(entries, _FGN_CHUNK) + 1) // 2
        spectrum = self._buffer("spectrum", (chunk_pairs, size), cdtype)
        field = self._buffer("field", (chunk_pairs, size), cdtype)
        for lo, draws in self._fgn_draws(local, size):
            hi = min(entries, lo + _FGN_CHUNK)
            pairs = (hi - lo + 1) // 2
            torch.mul(torch.view_as_complex(draws), scale, out=spectrum[:pairs])
            # Real and imaginary parts of one FFT are two independent paths with the target law.
            torch.fft.fft(spectrum[:pairs], dim=-1, out=field[:pairs])
            head = field[:pairs, first:stop]
            dest[:, lo:lo + pairs].copy_(head.real.T)
            dest[:, lo + pairs:hi].copy_(head.imag.T[:, : hi - lo - pairs])

    def _iid_block(self, b: int) -> torch.Tensor:
        """(B_b, S, entries) iid entries of variance 1/d for layer block b."""
        lo, hi = self.starts[b], self.starts[b + 1]
        n = len(self.sample_ids)
        out = self._block_buffer("iid", (hi - lo, n, self.entries))
        draw = self._buffer("iid-draw", (hi - lo, self.entries), torch.float32)
        factor = 1.0 / math.sqrt(self.cell.width)
        for local in range(n):
            gen = self._rng(local, f"iid-block-{b}")
            if self.cell.dist == "uniform":
                draw.uniform_(generator=gen).mul_(2.0).sub_(1.0)
                out[:, local].copy_(draw).mul_(math.sqrt(3.0) * factor)
            else:
                out[:, local].copy_(draw.normal_(generator=gen)).mul_(factor)
        return out

    def _fgn_window(self, b: int) -> torch.Tensor:
        """(B_b, S, entries) fGn entries of layer window b, cut from a whole-path generation."""
        lo, hi = self.starts[b], self.starts[b + 1]
        n = len(self.sample_ids)
        shape = (hi - lo, n, self.entries)
        out = self._block_buffer("paths", shape)
        self.generations += 1
        for local in range(n):
            self._fgn(local, out[:, local], lo, hi)
        return out

    def block(self, b: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(V, W) for layer block b: each (S, B_b, d, d), entries of variance 1/d at layer k
        (t_k**(2H)/d for fbm); W is None unless the block is 'res3'. Views, never copies."""
        if b in self._cache:
            return self._cache[b]
        lo, hi = self.starts[b], self.starts[b + 1]
        if len(self._cache) >= self._keep:
            self._cache.pop(next(iter(self._cache)))
        if self.windowed:
            scaled = self._fgn_window(b)
        elif self._paths is None:
            scaled = self._iid_block(b)
        elif self.cell.init == "shared":
            scaled = self._paths.expand(hi - lo, -1, -1)
        else:
            scaled = self._paths[lo:hi]
        scaled = scaled.transpose(0, 1)  # (S, B_b, entries)
        d = self.cell.width
        v = scaled[..., : d * d].unflatten(-1, (d, d))
        w = scaled[..., d * d :].unflatten(-1, (d, d)) if self.matrices == 2 else None
        self._cache[b] = (v, w)
        return v, w

    def layer(self, k: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(V_k, W_k), (S, d, d) each (W None unless 'res3'), for layer k < cell.weight_layers."""
        b = bisect.bisect_right(self.starts, k) - 1
        if not 0 <= k < self.starts[-1]:
            raise IndexError(f"layer {k} is outside 0..{self.starts[-1] - 1}")
        v, w = self.block(b)
        j = k - self.starts[b]
        return v[:, j], (None if w is None else w[:, j])

    def layers(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """All layers at once, (S, L, d, d) each: for tests and small cells only."""
        vs, ws = zip(*(self.block(b) for b in range(self.n_blocks)), strict=True)
        return torch.cat(vs, 1), (torch.cat(ws, 1) if ws[0] is not None else None)


def input_bytes(cell: Cell, itemsize: int) -> int:
    """Peak scratch of `input_and_direction` (one sample at a time): x, u and, with an input
    dimension, the map A, each drawn in float32 and cast."""
    n_in, d = cell.n_in, cell.width
    entries = n_in + d + (d * n_in if cell.input_dim is not None else 0)
    return entries * (4 + itemsize)


def input_and_direction(cell: Cell, sample_ids: range, device: torch.device,
                        dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """h_0 (S, d) and the loss direction u (S, d), unit norm, for the given samples.

    x is a uniformly random unit vector in R^{n_in}; h_0 = x when no input dimension is set,
    else h_0 = A x with A of N(0, 1/n_in) entries. u is uniformly random on the unit sphere.
    """
    seed, d, n_in = cell.draw_seed(), cell.width, cell.n_in
    h0 = torch.empty(len(sample_ids), d, device=device, dtype=dtype)
    u = torch.empty_like(h0)
    for local, i in enumerate(sample_ids):
        gen = make_generator(substream_seed(seed, i, "io"), device)
        x = torch.randn(n_in, generator=gen, device=device, dtype=torch.float32).to(dtype)
        x = x / torch.linalg.vector_norm(x)
        if cell.input_dim is not None:
            a = torch.randn(d, n_in, generator=gen, device=device, dtype=torch.float32).to(dtype)
            x = (a / math.sqrt(n_in)) @ x
        direction = torch.randn(d, generator=gen, device=device, dtype=torch.float32).to(dtype)
        h0[local] = x
        u[local] = direction / torch.linalg.vector_norm(direction)
    return h0, u
