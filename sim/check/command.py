"""`python -m sim.check FACTORY --depths ...`: the depth check of a user's residual network.

    python -m sim.check examples/transformer.py:build --depths 4,16,64,256
    python -m sim.check examples.mlp_resnet:build --depths 8,32,128 --beta 0:1:11 --out runs/mlp

Everything is validated (the models of every depth are built and their blocks run once) before
anything is written: bad input prints one line `error: --flag=value is not allowed: ...` on stderr
and exits with status 2. Each depth is stored in OUT/check_parts as soon as it is done; a rerun of the
same command skips the stored depths, so an interrupted check is finished by running it again.
docs/check.md documents the flags, the files and the rules.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from sim.check.errors import CheckError
from sim.check.factory import load_factory
from sim.check.run import execute, plan
from sim.check.stream import MODES
from sim.grid.spec import GridError, parse_text

PROG = "python -m sim.check"
# The Python keyword a CheckError names -> the command line's flag.
FLAGS = {"factory": "FACTORY", "build": "FACTORY", "depths": "--depths", "betas": "--beta",
         "inputs": "--input-shape", "samples": "--samples", "blocks": "--blocks", "device": "--device",
         "dtype": "--dtype", "seed": "--seed", "batch": "--batch", "max_memory": "--max-memory", "out": "--out"}


class UsageError(Exception):
    """Bad input: printed as 'error: <message>', exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        match = re.match(r"argument (\S+?)(?:/\S+)?: expected one argument", message)
        if match:
            raise UsageError(f"{match.group(1)} is not allowed without a value: give one")
        if "the following arguments are required" in message:
            missing = message.split(":", 1)[1].strip()
            raise UsageError(f"{missing} is missing: {PROG} FACTORY --depths L1,L2,... (see --help)")
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = _Parser(
        prog=PROG, allow_abbrev=False, formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Check which regime (explode, identity, non-trivial) your own residual network is in at "
                    "initialization, at which scaling L^-beta of its branches it becomes non-trivial, and what "
                    "theory predicts from how its weights are correlated along depth.",
        epilog="""\
FACTORY:
  PATH.py:NAME or package.module:NAME, a function depth -> torch.nn.Module. The check finds the
  ModuleList or Sequential whose length is the depth (or takes --blocks), and runs those blocks
  as the residual stream h_{k+1} = h_k + L^-beta (f_k(h_k) - h_k); beta = 0 is the model as built.

values:
  Lists are comma-separated; ranges are start:stop:count, inclusive (--beta 0:1.2:13 is 0, 0.1,
  ..., 1.2). beta = 0 is always checked.

output (OUT, default runs/check-<factory file or module>):
  check.csv, check_layers.csv, check_correlation.csv, check_regimes.csv, check_thresholds.csv,
  check.json, check_parts/ (stored depths), report.html and report.pdf.""")
    parser.add_argument("factory", metavar="FACTORY", help="PATH.py:NAME or package.module:NAME")
    parser.add_argument("--depths", metavar="VALUES", required=True,
                        help="two or more depths L >= 2, e.g. 4,16,64,256")
    parser.add_argument("--beta", metavar="VALUES", help="extra scalings L^-beta checked, >= 0 (default 0:1.2:13)")
    parser.add_argument("--input-shape", metavar="SHAPE", help="the residual stream's shape, e.g. 8,16,64 "
                        "(default: INPUT_SHAPE of the factory's module)")
    parser.add_argument("--samples", metavar="N", help="models and inputs per depth, >= 2 (default 8)")
    parser.add_argument("--blocks", metavar="NAME", help="dotted name of the block sequence "
                        "(default: found automatically)")
    parser.add_argument("--device", metavar="DEV", help="auto (CUDA when present; default), cpu, cuda")
    parser.add_argument("--dtype", metavar="DTYPE", help="float32 (default) or float64")
    parser.add_argument("--seed", metavar="N", help="root seed >= 0 (default 0)")
    parser.add_argument("--batch", metavar="HOW", help=f"how blocks are called: {', '.join(MODES)} (default auto: "
                        "vmap where the blocks allow it)")
    parser.add_argument("--max-memory", metavar="SIZE", help="budget for the stored states, e.g. 2G "
                        "(default: half of what is free, at most 4G on the CPU)")
    parser.add_argument("--out", metavar="DIR", help="output directory (default runs/check-<name>)")
    parser.add_argument("--force", action="store_true", help="recompute depths already stored")
    parser.add_argument("--quiet", action="store_true", help="print nothing but errors and warnings")
    parser.add_argument("--no-report", action="store_true", help="skip building the report")
    return parser


def _int(flag: str, text: str | None, default: int) -> int:
    if text is None:
        return default
    try:
        return int(text)
    except ValueError:
        raise UsageError(f"{flag}={text} is not allowed: expected an integer") from None


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(t) for t in text.split(","))
    except ValueError:
        shape = ()
    if not shape or any(n < 1 for n in shape):
        raise UsageError(f"--input-shape={text} is not allowed: expected comma-separated integers >= 1, "
                         "e.g. 8,16,64")
    return shape


def _default_out(spec: str) -> Path:
    source = spec.rpartition(":")[0]
    stem = Path(source).stem if source.endswith(".py") else source.rpartition(".")[2]
    return Path("runs") / f"check-{stem or 'model'}"


def _message(exc: CheckError, args: argparse.Namespace, given: dict[str, str]) -> str:
    """A CheckError as the command line says it: the flag and the text given."""
    flag = FLAGS.get(exc.param, exc.param)
    if exc.param == "blocks" and args.blocks is None:
        return f"FACTORY={args.factory} is not allowed: {exc.allowed} with --blocks NAME"
    if flag == "FACTORY":
        return f"FACTORY={args.factory} is not allowed: {exc.allowed}"
    text = given.get(flag, str(exc.value))
    return f"{flag}={text} is not allowed: {exc.allowed}"


def main(argv: Sequence[str] | None = None) -> int:
    """The command line entry point; returns the exit status (2 for bad input, 130 when interrupted)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    given = {"--depths": args.depths, "--beta": args.beta, "--input-shape": args.input_shape,
             "--samples": args.samples, "--blocks": args.blocks, "--device": args.device, "--dtype": args.dtype,
             "--seed": args.seed, "--batch": args.batch, "--max-memory": args.max_memory, "--out": args.out}
    given = {k: v for k, v in given.items() if v is not None}
    try:
        depths = parse_text("depth", "--depths", args.depths)
        betas = parse_text("beta", "--beta", args.beta) if args.beta is not None else None
        samples, seed = _int("--samples", args.samples, 8), _int("--seed", args.seed, 0)
        build = load_factory(args.factory)
        if args.input_shape is not None:
            shape = _shape(args.input_shape)
        else:
            module = sys.modules.get(getattr(build, "__module__", ""), None)
            shape = getattr(module, "INPUT_SHAPE", None)
            if shape is None:
                raise UsageError("--input-shape is missing: give the residual stream's shape, e.g. --input-shape "
                                 "8,16,64 (or define INPUT_SHAPE in the factory's module)")
            given["--input-shape"] = ",".join(str(n) for n in shape)
        out = Path(args.out) if args.out is not None else _default_out(args.factory)
        given.setdefault("--out", str(out))
        if not args.no_report:
            try:
                report_builder()
            except Exception as exc:
                raise UsageError(f"the report cannot be built: reports.build_report is not available "
                                 f"({type(exc).__name__}: {exc}); give --no-report") from None
        options = {"betas": betas} if betas is not None else {}
        p = plan(build, depths, inputs=shape, samples=samples, blocks=args.blocks, device=args.device or "auto",
                 dtype=args.dtype or "float32", seed=seed, batch=args.batch or "auto", max_memory=args.max_memory,
                 out=out, force=args.force, quiet=args.quiet, command=[Path(sys.executable).name, "-m", "sim.check",
                                                                        *argv], **options)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except GridError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except CheckError as exc:
        print(f"error: {_message(exc, args, given)}", file=sys.stderr)
        return 2
    try:
        result = execute(p, None if args.no_report else report_builder())
    except KeyboardInterrupt:
        print(f"interrupted: the finished depths are stored in {p.out / 'check_parts'}; run the same command "
              "again to finish", file=sys.stderr)
        return 130
    status = 0
    if result.report_error is not None:
        print(f"error: building the report failed ({result.report_error}); the tables in {p.out} are complete",
              file=sys.stderr)
        status = 1
    if not args.quiet:
        print(result.sentence)
        for f in result.files:
            print(f)
    return status


def report_builder() -> Callable[[Path], list[Path]]:
    """OUT -> the report's files (HTML and PDF): the check's last step, and with sim.grid.command the
    only place under `sim/` that imports `reports` (which reads stored results, never the other way)."""
    from reports import build_report

    return lambda out: [Path(f) for f in build_report(out, formats=("html", "pdf"))]
