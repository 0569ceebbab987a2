"""Where the grid's work runs: in this process (`local`, the default) or as Ray tasks (`ray`).

The unit of work is what the grid schedules: an `EngineCall` (one weight-draw group, all its
betas: one `simulate_betas` call) or a `TrainingJob` (one cell's brief training). An executor takes
a list of them and yields each one as it finishes (`Finished`: its result, or why it failed); the
driver alone writes the store, one transaction per finished task, so resuming, --force, the
exports and the report do not depend on the executor, and a run may be resumed with another one.

`RayExecutor` runs each task as a Ray task (https://docs.ray.io) with its resource needs: CPUs,
one GPU on CUDA, and the memory the cell's memory plan allocates. Ray retries a task whose worker
process dies (`MAX_RETRIES` times); a task that fails for its own reasons (an exception, Ray's
memory monitor) is reported with its cell and the others go on; a lost cluster raises
`ClusterLost`. Ctrl-C ends the run's Ray job (`close`), and Ray stops the job's tasks: they are not
cancelled one by one, because `ray.cancel` racing a task's completion was seen to abort the driver
(Ray 2.60, "Tried to complete task that was not pending", with and without force). Each task sets
torch's threads to the CPUs Ray gave it and runs in its worker's workspace, kept from task to task
(with a Hurst sweep's standard normals, as the local executor keeps them): a sample's numbers
depend only on its seed, never on the chunk, thread, worker or kept draws that computed it, so a
cell gives bitwise the same logs under both executors. Ray is imported only when a `RayExecutor` is made.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import logging
import os
import re
import socket
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import torch

from sim.cell import ENGINE_VERSION, Cell
from sim.device import default_memory_budget, resolve_device, resolve_dtype
from sim.engine import SimResult, bytes_per_sample, memory_plan, reserve_bytes, simulate_betas
from sim.grid.progress import group_cost
from sim.train import TrainConfig, train_cell
from sim.train.data import Dataset, load_dataset
from sim.train.training import TrainResult
from sim.weights import WeightSource
from sim.workspace import workspace

EXECUTORS = ("local", "ray")
# Ray runs a task again when its worker process dies (killed, crashed, node lost) this many times.
MAX_RETRIES = 3
# How often the driver, waiting for results, checks that the cluster still answers; two failed
# checks in a row end the run (Ray's own client gives up only after 60 s, and then exits at once).
PROBE_SECONDS = 2.0
EXTRA = 'pip install -e ".[cluster]"'
# A Ray task gets a CPU per this many of its samples: the engine splits a call's samples between
# one-thread workers, and a call's buffers and kept draws serve all its CPUs, where tasks of one
# CPU each hold a whole call's (measured on 2 cores, marion-fig7's calls: two one-CPU tasks at once
# touch 2 x 2.7 GB of fresh memory, and their first calls took 8.2 s against 3.5 s alone, while
# calls of two CPUs ran as the local executor's). 16 samples per worker keep a call's last chunk
# from waiting long on the others.
SAMPLES_PER_CPU = 16


@dataclass(frozen=True)
class EngineCall:
    """One engine call: cells that differ only in beta, simulated on the same weight draws."""

    cells: tuple[Cell, ...]
    max_memory: int | None = None

    @property
    def label(self) -> str:
        first = self.cells[0]
        return f"{first.label().rsplit(' beta=', 1)[0]} ({len(self.cells)} betas, L={first.depth})"

    @property
    def cost(self) -> float:
        """The call's relative cost (`sim.grid.progress.group_cost`), for the ETA."""
        return group_cost(self.cells[0], len(self.cells))

    def run(self) -> list[SimResult]:
        """One SimResult per cell, in order."""
        return simulate_betas(self.cells[0], [c.beta for c in self.cells], max_memory=self.max_memory)


@dataclass(frozen=True)
class TrainingJob:
    """One cell's networks trained under `config` and measured again."""

    cell: Cell
    config: TrainConfig

    @property
    def label(self) -> str:
        return self.cell.label()

    def run(self) -> TrainResult:
        return train_cell(self.cell, self.config, dataset=_dataset(self.config.dataset))


Task = EngineCall | TrainingJob


@cache
def _dataset(name: str) -> Dataset:
    """A data set loaded once per process (its splits are fixed, so every process has the same)."""
    return load_dataset(name)


@dataclass
class Finished:
    """A task done: `result` (a list of SimResult for an EngineCall, a TrainResult for a
    TrainingJob), or `error`, one line saying why it failed."""

    task: Task
    result: Any = None
    error: str | None = None


class Executor(Protocol):
    """Runs tasks and yields them as they finish, in any order."""

    name: str

    def run(self, tasks: Sequence[Task], show: Callable[[str], None] = ...) -> Iterator[Finished]:
        """Each task once, as a `Finished`, as soon as it is done; `show` gets a line saying what
        runs now (for the progress bar)."""
        ...

    def describe(self) -> dict[str, Any]:
        """The executor's settings, for run.json."""
        ...

    def close(self) -> None:
        """Release what the executor holds (a Ray instance it started, its connection)."""
        ...


class ClusterLost(RuntimeError):
    """The Ray cluster stopped answering: the run ends, and what finished is stored."""


def _reason(exc: BaseException) -> str:
    """An exception as one line: its type and the first line of its message."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__


def _ignore(_: str) -> None:
    pass


def _keeps_draws(tasks: Sequence[Task]) -> bool:
    """Whether engine calls share their draws (a Hurst sweep: fgn or fbm cells differing in H), so
    that keeping a call's standard normals for the next one pays."""
    calls = [t for t in tasks if isinstance(t, EngineCall)]
    return len({t.cells[0].draw_seed() for t in calls}) < len(calls)


class LocalExecutor:
    """Today's loop: the tasks one after the other in this process, on torch's threads, in one
    workspace that keeps the standard normals of a Hurst sweep from one call to the next."""

    name = "local"

    def run(self, tasks: Sequence[Task], show: Callable[[str], None] = _ignore) -> Iterator[Finished]:
        with workspace(keep_draws=_keeps_draws(tasks)):
            for task in tasks:
                show(task.label)
                try:
                    result = task.run()
                except Exception as exc:  # the task's own failure; Ctrl-C passes through
                    yield Finished(task, error=_reason(exc))
                    continue
                yield Finished(task, result)

    def describe(self) -> dict[str, Any]:
        return {"executor": self.name}

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------- checks before anything runs
_ADDRESS = re.compile(r"^(?:ray://)?(?P<host>[A-Za-z0-9_.\-]+|\[[0-9A-Fa-f:]+\]):(?P<port>\d{1,5})$")


def check(executor: str, address: str | None) -> None:
    """ValueError naming `executor` or `ray_address` unless they can be used here: a known
    executor, Ray installed for `ray`, an address only with `ray`, of the form auto, HOST:PORT or
    ray://HOST:PORT, and something answering at HOST:PORT. Imports nothing and starts nothing."""
    if executor not in EXECUTORS:
        raise ValueError(f"executor={executor!r} is not allowed: one of {', '.join(EXECUTORS)}")
    if address is not None and executor != "ray":
        raise ValueError(f"ray_address={address!r} is not allowed: it is used by the ray executor only "
                         "(give --executor ray)")
    if executor == "ray" and importlib.util.find_spec("ray") is None:
        raise ValueError(f"executor='ray' is not allowed: Ray is not installed; install the cluster extra: {EXTRA}")
    if address is None or address == "auto":
        return
    match = _ADDRESS.match(address)
    if match is None or not 0 < int(match.group("port")) < 65536:
        raise ValueError(f"ray_address={address!r} is not allowed: expected auto, HOST:PORT or ray://HOST:PORT")
    problem = _unreachable(match.group("host").strip("[]"), int(match.group("port")), timeout=5.0)
    if problem:
        raise ValueError(f"ray_address={address!r} is not allowed: nothing answers there ({problem}); start "
                         "the cluster first (ray start --head) or give the head's address")


def _unreachable(host: str, port: int, timeout: float) -> str | None:
    """Why a TCP connection to host:port fails, or None when it opens."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


# ---------------------------------------------------------------------- Ray
def run_task(task: Task, threads: int, keep_draws: bool, driver: dict[str, Any]) -> Any:
    """A task on a Ray worker: check that the worker computes as the driver would (same engine and
    torch versions, same device type), use the `threads` CPUs Ray gave the task, and run it in the
    worker's workspace (`_worker_workspace`)."""
    here = _environment(task)
    differ = {k: (v, driver[k]) for k, v in here.items() if v != driver[k]}
    if differ:
        text = ", ".join(f"{k} {mine} here, {theirs} on the driver" for k, (mine, theirs) in differ.items())
        raise RuntimeError(f"worker on {socket.gethostname()} differs from the driver ({text}); install the "
                           "same versions on every node and give --device explicitly")
    torch.set_num_threads(threads)
    _worker_workspace(keep_draws)
    return task.run()


# The workspace of this process when it is a Ray worker: (keep_draws, the scope holding it open).
_WORKER_WORKSPACE: tuple[bool, contextlib.ExitStack] | None = None


def _worker_workspace(keep_draws: bool) -> None:
    """Keep one workspace open in this Ray worker from task to task, as the local executor keeps one
    for the whole grid: its buffers are not mapped again for every task, and with `keep_draws` the
    standard normals of a Hurst sweep are drawn once per worker, not once per H (measured on one
    thread for marion-fig7's cells: 1.45 s per H after the first against 3.1 s). The engine fits
    what the workspace holds to each call's budget; the worker holds it until its job ends."""
    global _WORKER_WORKSPACE
    if _WORKER_WORKSPACE is not None and _WORKER_WORKSPACE[0] == keep_draws:
        return
    if _WORKER_WORKSPACE is not None:
        _WORKER_WORKSPACE[1].close()
    scope = contextlib.ExitStack()
    scope.enter_context(workspace(keep_draws=keep_draws))
    _WORKER_WORKSPACE = (keep_draws, scope)


def _environment(task: Task) -> dict[str, Any]:
    """What must be equal on the driver and on a worker for the worker's numbers to be the driver's."""
    cell = task.cells[0] if isinstance(task, EngineCall) else task.cell
    return {"engine version": ENGINE_VERSION, "torch": torch.__version__,
            "device": resolve_device(cell.device).type}


class RayExecutor:
    """Tasks on a Ray cluster: joined at `address` ('auto', HOST:PORT, ray://HOST:PORT), or a local
    instance with this machine's CPUs and GPUs when `address` is None. A process already connected
    to Ray (`ray.init` called before, as in a notebook or the tests) uses that connection and
    leaves it open (the tasks of a run interrupted there finish in the background, unread).

    `device`: the device the driver resolved (tasks ask for one GPU each on 'cuda');
    `max_memory`: each engine call's budget (default: this machine's default budget).
    ValueError naming `ray_address` (or `executor`) when Ray cannot be started or joined.
    """

    name = "ray"

    def __init__(self, address: str | None, device: str, max_memory: int | None, quiet: bool = False):
        import ray

        self._ray = ray
        self.address = address
        self.gpu = device == "cuda"
        self.budget = max_memory or default_memory_budget(torch.device(device))
        self._owned = not ray.is_initialized()
        if self._owned:
            options: dict[str, Any] = {"logging_level": logging.ERROR if quiet else logging.WARNING,
                                       "log_to_driver": not quiet}
            if address is None:
                os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
                # Ray starts its workers at niceness 15, so that on a machine shared with other work
                # they get the CPU last (measured 15-20% slower than the local executor under load
                # on 2 cores); a local instance runs them at the driver's priority, as the local
                # executor runs.
                os.environ.setdefault("RAY_worker_niceness", str(os.nice(0)))
                options.update(address="local", include_dashboard=False)
            else:
                options["address"] = address
            name = f"ray_address={address!r}" if address is not None else "executor='ray'"
            try:
                ray.init(**options)
            except Exception as exc:
                hint = "" if address is None or os.environ.get("RAY_AUTH_MODE") else (
                    "; a cluster with token authentication needs RAY_AUTH_MODE=token and its token here")
                raise ValueError(f"{name} is not allowed: Ray did not {'start' if address is None else 'connect'} "
                                 f"({_reason(exc)}){hint}") from None
        self._remote = ray.remote(run_task)
        self._probe = self._probe_address()
        self.nodes = [n["Resources"] for n in ray.nodes() if n.get("Alive")]
        self.cpus = int(sum(n.get("CPU", 0) for n in self.nodes))

    def _probe_address(self) -> tuple[str, int] | None:
        """The (host, port) that answers while the cluster lives: the client server for ray://
        addresses, the cluster's GCS otherwise."""
        target = self.address[len("ray://"):] if self.address and self.address.startswith("ray://") else None
        if target is None:
            try:
                target = self._ray.get_runtime_context().gcs_address
            except Exception:
                return None
        host, _, port = target.rpartition(":")
        return (host.strip("[]"), int(port)) if port.isdigit() else None

    def describe(self) -> dict[str, Any]:
        gpus = int(sum(n.get("GPU", 0) for n in self.nodes))
        return {"executor": self.name, "ray_address": self.address,
                "ray_cluster": {"nodes": len(self.nodes), "cpus": self.cpus, "gpus": gpus,
                                "ray": self._ray.__version__}}

    def _cpus(self, task: Task, n_tasks: int) -> int:
        """CPUs of one task: one per SAMPLES_PER_CPU of its samples, or the cluster's CPUs shared out
        over the tasks when that is more (a grid of few calls); at most one per sample (the engine
        runs one worker per sample at most) and what the largest node holds."""
        samples = task.cells[0].samples if isinstance(task, EngineCall) else task.cell.samples
        largest = max((int(n.get("CPU", 0)) for n in self.nodes), default=1)
        wanted = max(-(-samples // SAMPLES_PER_CPU), -(-self.cpus // max(1, n_tasks)))
        return max(1, min(wanted, samples, largest))

    def _needs(self, task: Task, n_tasks: int, keep_draws: bool) -> dict[str, Any]:
        """The Ray options of one task: CPUs, a GPU on CUDA, and memory for engine calls."""
        threads = self._cpus(task, n_tasks)
        needs: dict[str, Any] = {"num_cpus": threads, "num_gpus": 1 if self.gpu else 0}
        if isinstance(task, EngineCall) and not self.gpu:
            needs["memory"] = planned_bytes(task.cells[0], len(task.cells), self.budget, threads, keep_draws)
        return needs

    def _unfit(self, needs: dict[str, Any]) -> str | None:
        """Why no node of the cluster can take a task with these needs, or None."""
        wanted = {"CPU": needs["num_cpus"], "GPU": needs["num_gpus"], "memory": needs.get("memory", 0)}
        if any(all(node.get(k, 0) >= v for k, v in wanted.items() if v) for node in self.nodes):
            return None
        return (f"no node of the Ray cluster has {needs['num_cpus']} CPUs, {needs['num_gpus']} GPUs and "
                f"{wanted['memory'] / 2**30:.2f} GiB of memory free for tasks (give a smaller --max-memory)")

    def run(self, tasks: Sequence[Task], show: Callable[[str], None] = _ignore) -> Iterator[Finished]:
        ray = self._ray
        keep_draws = _keeps_draws(tasks)
        submitted: dict[Any, Task] = {}
        for task in tasks:
            if isinstance(task, EngineCall) and task.max_memory is None:
                task = dataclasses.replace(task, max_memory=self.budget)  # the budget its memory was asked for
            needs = self._needs(task, len(tasks), keep_draws)
            problem = self._unfit(needs)
            if problem is not None:
                yield Finished(task, error=problem)
                continue
            ref = self._remote.options(**needs, max_retries=MAX_RETRIES).remote(
                task, needs["num_cpus"], keep_draws, _environment(task))
            submitted[ref] = task
        pending = list(submitted)
        silent = 0
        while pending:
            show(f"{len(pending)} tasks left on Ray ({self.cpus} CPUs)")
            done, pending = ray.wait(pending, num_returns=1, timeout=PROBE_SECONDS)
            if not done:
                silent = silent + 1 if self._lost() else 0
                if silent >= 2:
                    raise ClusterLost(f"lost the connection to the Ray cluster"
                                      f"{' at ' + self.address if self.address else ''}")
                continue
            for ref in done:
                yield self._collect(ref, submitted[ref])

    def _collect(self, ref: Any, task: Task) -> Finished:
        ray = self._ray
        try:
            return Finished(task, ray.get(ref))
        except ray.exceptions.RayTaskError as exc:  # the task's own exception
            return Finished(task, error=_reason(exc.cause if exc.cause is not None else exc))
        except ray.exceptions.WorkerCrashedError:
            return Finished(task, error=f"its worker process died {MAX_RETRIES + 1} times")
        except ray.exceptions.OutOfMemoryError:
            return Finished(task, error="killed by Ray's memory monitor: the node ran out of memory "
                                        "(give a smaller --max-memory)")
        except (ray.exceptions.LocalRayletDiedError, ray.exceptions.RaySystemError) as exc:
            raise ClusterLost(f"lost the Ray cluster ({_reason(exc)})") from None
        except ray.exceptions.RayError as exc:
            return Finished(task, error=_reason(exc))

    def _lost(self) -> bool:
        """Whether the cluster's address refuses connections now."""
        return self._probe is not None and _unreachable(*self._probe, timeout=PROBE_SECONDS) is not None

    def close(self) -> None:
        """Stop the local instance this executor started, or disconnect from the cluster it joined."""
        if self._owned and self._ray.is_initialized():
            self._ray.shutdown()


def planned_bytes(cell: Cell, n_beta: int, budget: int, workers: int, keep_draws: bool = False) -> int:
    """What one engine call allocates at most, for Ray's memory request: every sample held at once
    (fewer when the plan chunks them), with its kept draws when `keep_draws`, one generation scratch
    per worker and the reserve; the whole budget for a cell served by fGn windows; never more than
    the budget."""
    _, window = memory_plan(cell, n_beta, budget, keep_draws=keep_draws)
    if window is not None:
        return budget
    item = resolve_dtype(cell.dtype).itemsize
    held = (cell.samples * bytes_per_sample(cell, n_beta, False, keep_draws)
            + workers * WeightSource.scratch_bytes(cell, item) + reserve_bytes(budget))
    return min(budget, held)


def make(executor: str, address: str | None, device: str, max_memory: int | None, quiet: bool) -> Executor:
    """The executor named `executor` (see `check`); a RayExecutor starts or joins Ray here."""
    if executor == "ray":
        return RayExecutor(address, device, max_memory, quiet)
    return LocalExecutor()
