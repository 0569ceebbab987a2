"""Large buffers reused from one chunk of samples, and one cell, to the next.

A fresh multi-gigabyte tensor is not free: the operating system maps and zeroes every page on
first touch, which was measured at about 0.7 ms per MB on a 2-core CPU, as long as the arithmetic
done on the buffer afterwards. A `Workspace` keeps the engine's big buffers (weight paths, stored
derivatives, FFT scratch) alive across chunks and cells, one set per worker, and can keep each
worker's standard normals so that cells differing only in the Hurst index draw them once.

`simulate_betas` opens a workspace for its own duration when none is active; a caller running many
cells (the grid) opens one around all of them with `with workspace(): ...`.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import torch

_ACTIVE: list[Workspace] = []
_LOCK = threading.Lock()


class Workspace:
    """Named buffers per worker slot, grown on demand and never shrunk while the workspace lives.

    `keep_draws`: whether workers keep the standard normals of their last chunk of samples (see
    `draws`); the engine counts them in its memory budget only when this is set.
    """

    def __init__(self, keep_draws: bool = False):
        self.keep_draws = keep_draws
        self._buffers: dict[tuple[int, str], torch.Tensor] = {}
        self._draws: dict[int, tuple[object, dict[int, torch.Tensor]]] = {}

    def buffer(self, slot: int, name: str, shape: tuple[int, ...], dtype: torch.dtype,
               device: torch.device) -> torch.Tensor:
        """An uninitialized contiguous tensor of `shape`, backed by the slot's buffer `name`.

        The same (slot, name) returns the same memory until a larger size is asked for, so a caller
        must be done with the previous tensor of that name before asking again.
        """
        numel = 1
        for n in shape:
            numel *= n
        key = (slot, name)
        with _LOCK:
            held = self._buffers.get(key)
            if held is None or held.dtype != dtype or held.device != device or held.numel() < numel:
                self._buffers.pop(key, None)
                held = torch.empty(max(numel, 1), dtype=dtype, device=device)
                self._buffers[key] = held
        return held[:numel].view(shape)

    def draws(self, slot: int, key: object) -> dict[int, torch.Tensor]:
        """The slot's store of standard normals for `key` (per-sample tensors by sample index).

        Asking with another key drops what the slot held: a worker keeps one chunk's draws.
        """
        with _LOCK:
            held = self._draws.get(slot)
            if held is None or held[0] != key:
                held = (key, {})
                self._draws[slot] = held
        return held[1]

    def held_bytes(self) -> int:
        """Bytes held by all buffers and kept draws."""
        total = sum(t.numel() * t.element_size() for t in self._buffers.values())
        for _, per_sample in self._draws.values():
            total += sum(t.numel() * t.element_size() for t in per_sample.values())
        return total


def active() -> Workspace | None:
    """The innermost open workspace, or None."""
    return _ACTIVE[-1] if _ACTIVE else None


@contextlib.contextmanager
def workspace(keep_draws: bool = False) -> Iterator[Workspace]:
    """Open a workspace for the engine calls made inside the block; its buffers go at the end."""
    ws = Workspace(keep_draws=keep_draws)
    _ACTIVE.append(ws)
    try:
        yield ws
    finally:
        _ACTIVE.remove(ws)
