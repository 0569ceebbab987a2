"""`python -m sim.grid --preset landscape`: runs the lecture example of `sim.landscape.model` and
writes OUT/landscape.csv and OUT/landscape.json; the grid command builds the report (a callable
handed to `main`, so that this package never imports `reports`)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from sim.device import resolve_device
from sim.grid.runinfo import provenance, write_json
from sim.landscape.model import CSV_NAME, JSON_NAME, PRESET, PRESET_LANDSCAPE, landscape_table, roughness, write_csv


class _Usage(Exception):
    """Bad input: printed as 'error: <message>', exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise _Usage(message)


def requested(argv: Sequence[str]) -> bool:
    """Whether a sim.grid command line names this preset (`--preset landscape` or `--preset=landscape`)."""
    argv = list(argv)
    return any(a == f"--preset={PRESET}" or (a == "--preset" and argv[i + 1:i + 2] == [PRESET])
               for i, a in enumerate(argv))


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=f"python -m sim.grid --preset {PRESET}", allow_abbrev=False,
                description="The lecture example (Haber & Ruthotto 2017): the objective over a (theta1, theta2) "
                            "grid for N = 5 and N = 100 steps, and how rough it is.")
    p.add_argument("--preset", required=True, choices=[PRESET])
    p.add_argument("--out", metavar="DIR", default=str(Path("runs") / PRESET), help="output directory")
    p.add_argument("--device", default="cpu", help="cpu (default: the documented numbers), cuda or auto")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    p.add_argument("--no-report", action="store_true", help="skip building the report")
    return p


def _check_out(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise _Usage(f"--out={out} is not allowed: it exists and is not a directory")
    if out.is_dir() and not os.access(out, os.W_OK | os.X_OK):
        raise _Usage(f"--out={out} is not allowed: the directory is not writable")


def main(argv: Sequence[str], build_report: Callable[[Path], list[Path]] | None = None) -> int:
    """Run the preset: OUT/landscape.csv, OUT/landscape.json and, unless --no-report or without
    `build_report` (OUT -> the report's files), the report; returns the exit status."""
    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    try:
        args, extra = _parser().parse_known_args(list(argv))
        if extra:
            flag = next((a for a in extra if a.startswith("-")), extra[0])
            raise _Usage(f"{flag} is not allowed with --preset {PRESET}: it takes only --out, --device, "
                         "--quiet and --no-report")
        try:
            resolve_device(args.device)
        except ValueError as exc:
            raise _Usage(f"--device={args.device} is not allowed: "
                         f"{str(exc).split(' is not allowed: ', 1)[-1]}") from None
        out = Path(args.out)
        _check_out(out)
    except _Usage as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    spec = dataclasses.replace(PRESET_LANDSCAPE, device=args.device)
    say = (lambda text: None) if args.quiet else (lambda text: print(text, file=sys.stderr, flush=True))
    total = len(spec.steppers) * len(spec.steps)
    done = []

    def progress(stepper: str, steps: int, seconds: float) -> None:
        done.append(seconds)
        say(f"[{len(done)}/{total}] {stepper} N={steps}: {spec.points}x{spec.points} points in {seconds:.2f} s")

    say(f"landscape: {spec}")
    stages: dict[str, float] = {}
    t0 = time.perf_counter()
    try:
        table = landscape_table(spec, progress)
    except KeyboardInterrupt:
        print("interrupted: nothing was written; run the same command again", file=sys.stderr)
        return 130
    stages["simulate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    files = [write_csv(table, out / CSV_NAME)]
    measures = roughness(table)
    stages["export"] = time.perf_counter() - t0
    for m in measures:
        say(f"{m['stepper']} N={m['N']}: {m['local_minima']} strict local minima, total variation "
            f"{m['total_variation']:.3f}, unstable on {100 * m['unstable_fraction']:.1f}% of the grid")
    record: dict[str, Any] = {
        "tool": "sim.landscape", "command": [Path(sys.executable).name, "-m", "sim.grid", *argv],
        "preset": PRESET, "out": str(out), "spec": dataclasses.asdict(spec),
        "device": str(resolve_device(spec.device)), "dtype": "float64", **provenance(), "started": started,
        "roughness": measures,
    }
    json_path = out / JSON_NAME
    files.append(json_path)
    write_json(json_path, {**record, "stage_seconds": {k: round(v, 3) for k, v in stages.items()},
                           "files": [str(f) for f in files]})  # what the report shows; rewritten below
    status = 0
    if not args.no_report and build_report is not None:
        t0 = time.perf_counter()
        try:
            files.extend(Path(f) for f in build_report(out))
        except Exception as exc:
            print(f"error: building the report failed ({type(exc).__name__}: {exc}); {out / CSV_NAME} is "
                  "complete", file=sys.stderr)
            status = 1
        stages["report"] = time.perf_counter() - t0
    record.update(finished=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  stage_seconds={k: round(v, 3) for k, v in stages.items()}, files=[str(f) for f in files])
    write_json(json_path, record)
    if not args.quiet:
        for f in files:
            print(f)
    return status
