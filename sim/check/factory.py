"""The user's factory: loaded from `PATH_OR_MODULE:FACTORY`, called once per sample under its own
seed, and searched for its sequence of residual blocks.

A sample's model is `build(depth)` called with torch's global generator seeded from the run's root
seed, the depth and the sample index (and restored afterwards), so a sample is the same model alone,
in a larger run, or resumed. The model runs in eval mode (dropout off, batch norm with its initial
running statistics) with gradients off for its parameters: the check measures the network at
initialization and differentiates with respect to the residual stream only.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import torch
from torch import nn

from sim.check.errors import CheckError
from sim.weights import substream_seed

Factory = Callable[[int], nn.Module]
# What a block sequence may be: the containers whose length is the number of blocks.
SEQUENCES = (nn.ModuleList, nn.Sequential)


def load_factory(spec: str) -> Factory:
    """'path/to/file.py:build' or 'package.module:build' -> the callable; CheckError otherwise."""
    source, sep, name = str(spec).rpartition(":")

    def refuse(allowed: str) -> CheckError:
        return CheckError("factory", spec, allowed)

    if not sep or not source or not name.isidentifier():
        raise refuse("expected PATH_OR_MODULE:FACTORY, e.g. examples/transformer.py:build or "
                     "examples.transformer:build")
    looks_like_path = source.endswith(".py") or "/" in source or "\\" in source
    try:
        module = _module_from_path(source) if looks_like_path else importlib.import_module(source)
    except FileNotFoundError:
        raise refuse(f"no such file {source}") from None
    except ModuleNotFoundError as exc:
        if exc.name is not None and source.startswith(exc.name):
            raise refuse(f"no module named {exc.name!r} (give a path to a .py file, or run from the "
                         "directory that holds the package)") from None
        raise refuse(f"importing {source} failed (ModuleNotFoundError: {exc})") from None
    except Exception as exc:
        raise refuse(f"importing {source} failed ({type(exc).__name__}: {exc})") from None
    factory = getattr(module, name, None)
    if factory is None:
        raise refuse(f"{source} has no attribute {name!r}")
    if not callable(factory):
        raise refuse(f"{source}:{name} is not callable")
    return factory


def _module_from_path(path: str) -> object:
    file = Path(path)
    if not file.is_file():
        raise FileNotFoundError(path)
    name = "_depth_check_" + hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:12]
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path} as a module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look the module up by name
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def factory_identity(build: Factory) -> dict[str, str | None]:
    """Name of the factory and a hash of its source file (None when it cannot be read): what a
    stored depth is checked against before a rerun reuses it."""
    name = factory_name(build)
    digest = None
    try:
        file = inspect.getsourcefile(build)
        if file is not None:
            digest = hashlib.sha256(Path(file).read_bytes()).hexdigest()[:16]
    except (TypeError, OSError):
        pass
    return {"factory": name, "source_sha256": digest}


def model_seed(seed: int, depth: int, sample: int) -> int:
    """The seed of torch's global generator while `build(depth)` makes sample `sample`."""
    return substream_seed(seed, "model", depth, sample)


def build_model(build: Factory, depth: int, seed: int, sample: int, device: torch.device,
                dtype: torch.dtype) -> nn.Module:
    """Sample `sample` of `build(depth)`: built under its own seed, moved to device and dtype, in
    eval mode, parameters without gradients. CheckError when the factory fails or returns no Module."""
    cuda = list(range(torch.cuda.device_count())) if device.type == "cuda" else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(model_seed(seed, depth, sample))
        try:
            model = build(depth)
        except Exception as exc:
            raise CheckError("build", factory_name(build), f"build({depth}) raised "
                             f"{type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise CheckError("build", factory_name(build), f"build({depth}) returned {type(model).__name__}, "
                         "expected a torch.nn.Module")
    model = model.to(device=device, dtype=dtype).eval()
    model.requires_grad_(False)
    return model


def factory_name(build: Factory) -> str:
    """'module:qualname' of a factory ('path.py:qualname' for one loaded from a file)."""
    module = getattr(build, "__module__", None) or "?"
    file = getattr(sys.modules.get(module), "__file__", None)
    if module.startswith("_depth_check_") and file:
        try:
            module = str(Path(file).resolve().relative_to(Path.cwd()))
        except ValueError:
            module = file
    return f"{module}:{getattr(build, '__qualname__', type(build).__name__)}"


def sequences(model: nn.Module) -> dict[str, int]:
    """name -> length of every ModuleList or Sequential in the model ('' is the model itself)."""
    return {name: len(m) for name, m in model.named_modules(remove_duplicate=False) if isinstance(m, SEQUENCES)}


def shown(name: str) -> str:
    """A sequence's name as messages write it."""
    return repr(name) if name else "'' (the model itself)"


def find_blocks(models: dict[int, nn.Module], blocks: str | None = None) -> str:
    """The name of the block sequence: `blocks` checked, or the one ModuleList / Sequential whose
    length equals the depth in the model of every depth. CheckError naming the candidates otherwise."""
    if blocks is not None:
        for depth, model in models.items():
            try:
                seq = model.get_submodule(blocks) if blocks else model
            except AttributeError:
                raise CheckError("blocks", blocks, f"build({depth}) has no submodule {blocks!r}; its "
                                 f"sequences: {_listing(sequences(model))}") from None
            if not isinstance(seq, SEQUENCES):
                raise CheckError("blocks", blocks, f"it is a {type(seq).__name__}, expected a ModuleList or "
                                 "Sequential")
            if len(seq) != depth:
                raise CheckError("blocks", blocks, f"it holds {len(seq)} modules in build({depth}), expected "
                                 f"{depth} (one per block)")
        return blocks
    found: set[str] | None = None
    for depth, model in models.items():
        matching = {name for name, n in sequences(model).items() if n == depth}
        found = matching if found is None else found & matching
    found = found or set()
    if len(found) == 1:
        return found.pop()
    depth, model = max(models.items())
    if not found:
        raise CheckError("blocks", None, f"no ModuleList or Sequential of the model holds one module per block "
                         f"at every depth ({', '.join(map(str, models))}); in build({depth}): "
                         f"{_listing(sequences(model))}; name the block sequence")
    names = ", ".join(shown(n) for n in sorted(found))
    raise CheckError("blocks", None, f"several sequences hold one module per block at every depth ({names}); "
                     "name one of them")


def _listing(found: dict[str, int]) -> str:
    if not found:
        return "none"
    return ", ".join(f"{shown(name)} (length {n})" for name, n in sorted(found.items()))


def block_list(model: nn.Module, blocks: str) -> list[nn.Module]:
    """The model's residual blocks, in order."""
    return list(model.get_submodule(blocks) if blocks else model)


def check_stream(model: nn.Module, blocks: str, h0: torch.Tensor) -> None:
    """Run the blocks once on h0 (no gradients): CheckError when a block fails on the stream, or
    does not return a tensor of the stream's shape."""
    h = h0
    with torch.no_grad():
        for k, block in enumerate(block_list(model, blocks)):
            try:
                out = block(h)
            except Exception as exc:
                raise CheckError("inputs", tuple(h0.shape), f"block {_at(blocks, k)} ({type(block).__name__}) "
                                 f"failed on a stream of that shape ({type(exc).__name__}: {exc})") from None
            if not isinstance(out, torch.Tensor):
                raise CheckError("blocks", blocks, f"block {_at(blocks, k)} returned {type(out).__name__}, "
                                 "expected a tensor (the residual stream)")
            if out.shape != h.shape:
                raise CheckError("blocks", blocks, f"block {_at(blocks, k)} maps the stream's shape "
                                 f"{tuple(h.shape)} to {tuple(out.shape)}; a residual block must keep it")
            h = out


def _at(blocks: str, k: int) -> str:
    return f"{blocks}.{k}" if blocks else str(k)


def describe_blocks(models: Sequence[nn.Module], blocks: str) -> str:
    """A short description of the blocks, e.g. 'layers: 64 x TransformerEncoderLayer'."""
    kinds = sorted({type(b).__name__ for m in models for b in block_list(m, blocks)})
    n = len(block_list(models[0], blocks))
    return f"{blocks or '(the model)'}: {n} x {', '.join(kinds)}"
