"""``gsv-trt``: one sub-command per module in ``gsv_trt.commands``; user errors print one line and exit 2."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__, commands
from .errors import GsvTrtError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="gsv-trt", description=__doc__)
    parser.add_argument("--version", action="version", version=f"gsv-trt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for info in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if info.name.startswith("_"):
            continue
        importlib.import_module(f"{commands.__name__}.{info.name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.run(args) or 0)
    except GsvTrtError as e:
        if args.debug:
            raise
        print(f"gsv-trt {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gsv-trt {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
