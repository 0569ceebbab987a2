"""The one place where device and dtype are resolved, and where free memory is measured."""

from __future__ import annotations

import os

import torch

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """'auto' -> CUDA when available, else CPU; 'cuda' without a GPU raises ValueError."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cpu":
        return torch.device("cpu")
    if device == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("device='cuda' is not allowed: no CUDA device is available "
                             "(use 'auto' or 'cpu')")
        return torch.device("cuda")
    raise ValueError(f"device={device!r} is not allowed: one of auto, cpu, cuda")


def resolve_dtype(dtype: str | torch.dtype) -> torch.dtype:
    """'float32' / 'float64' -> the torch dtype."""
    if isinstance(dtype, torch.dtype):
        return dtype
    if dtype not in _DTYPES:
        raise ValueError(f"dtype={dtype!r} is not allowed: one of {', '.join(_DTYPES)}")
    return _DTYPES[dtype]


def available_memory(device: torch.device) -> int:
    """Bytes that can be allocated now: free GPU memory, or MemAvailable of the host."""
    if device.type == "cuda":
        free, _total = torch.cuda.mem_get_info(device)
        return int(free)
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


DEFAULT_CPU_BUDGET = 4 * 2**30


def default_memory_budget(device: torch.device) -> int:
    """Half of what is available now (room for the caller's data and the allocator's slack), and on
    the CPU at most 4 GiB: larger chunks of samples do not run faster there, and other processes
    share the host's memory."""
    half = available_memory(device) // 2
    return half if device.type == "cuda" else min(half, DEFAULT_CPU_BUDGET)


# Largest memory budget accepted: 2^63 - 1 bytes (8 EiB), the largest size a C long holds.
MAX_MEMORY = 2**63 - 1


def parse_memory(text: str | int | None) -> int | None:
    """'4G', '512M', '1.5GB', '4GiB', 1000000 -> bytes; None -> None.

    Raises ValueError naming the value as given (`max_memory='inf' is not allowed: ...`) for
    anything but a finite size from 1 byte to MAX_MEMORY bytes: negative, zero, infinite, NaN,
    overflowing (1e400) and malformed sizes.
    """
    if text is None:
        return None
    refused = ValueError(f"max_memory={text!r} is not allowed: expected a size such as 512M, 4G or a number of bytes, "
                         "finite, from 1 byte to 8 EiB (units K, M, G, T)")
    if isinstance(text, bool):
        raise refused
    if isinstance(text, int):
        value: float | int = text
    else:
        units = {"": 1, "K": 2**10, "M": 2**20, "G": 2**30, "T": 2**40}
        s = str(text).strip().upper().removesuffix("B").removesuffix("I")
        num, unit = s, ""
        if s and s[-1] in units:
            num, unit = s[:-1], s[-1]
        try:
            value = float(num) * units[unit]
        except ValueError:
            raise refused from None
    if not 1 <= value <= MAX_MEMORY:  # also NaN
        raise refused
    return int(value)
