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
        return sum(self.slot_bytes(slot) for slot in self._slots())

    def slot_bytes(self, slot: int) -> int:
        """Bytes held by one slot's buffers and kept draws."""
        with _LOCK:
            total = sum(t.numel() * t.element_size() for (s, _), t in self._buffers.items() if s == slot)
            _, per_sample = self._draws.get(slot, (None, {}))
            return total + sum(t.numel() * t.element_size() for t in per_sample.values())

    def release(self, slot: int) -> None:
        """Drop one slot's buffers and kept draws."""
        with _LOCK:
            for key in [k for k in self._buffers if k[0] == slot]:
                del self._buffers[key]
            self._draws.pop(slot, None)

    def fit(self, budget: int, workers: int) -> None:
        """Release what would take a run of `workers` workers, each within budget // workers bytes,
        over `budget`: buffers are never shrunk, so a slot may hold more than its share (grown by an
        earlier, larger cell), and slots the run does not use still hold theirs."""
        share = budget // workers

        def peak() -> int:
            return sum(max(self.slot_bytes(s), share) if s < workers else self.slot_bytes(s)
                       for s in set(self._slots()) | set(range(workers)))

        for slot in sorted(s for s in self._slots() if s >= workers):
            if peak() <= budget:
                return
            self.release(slot)
        for slot in range(workers):
            if peak() <= budget:
                return
            if self.slot_bytes(slot) > share:
                self.release(slot)

    def _slots(self) -> list[int]:
        with _LOCK:
            return sorted({s for s, _ in self._buffers} | set(self._draws))


def scratch(ws: Workspace | None, slot: int, name: str, shape: tuple[int, ...], dtype: torch.dtype,
            device: torch.device) -> torch.Tensor:
    """The slot's buffer `name` of `ws` (see `Workspace.buffer`), or a fresh tensor without one."""
    if ws is None:
        return torch.empty(shape, dtype=dtype, device=device)
    return ws.buffer(slot, name, shape, dtype, device)


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
