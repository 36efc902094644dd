"""``gsv-trt``: one sub-command per module in ``gsv_trt.commands``; user errors print one line and exit 2."""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys

from . import __version__, commands
from .errors import GsvTrtError

DESCRIPTION = """\
Make GPT-SoVITS v3/v4 speech synthesis fast on NVIDIA GPUs: export its models to ONNX, check the graphs against
PyTorch, build TensorRT engines, run them, and measure quality and speed against upstream's own eager PyTorch."""

EPILOG = """\
start here:
  gsv-trt info                                  what this machine can build and run
  gsv-trt engine --version v4 --precision fp16  export, check and build engines/*.plan (what `make engine` runs)
  gsv-trt vocode --version v4 --wav speech.wav --runtime eager --out resynth.wav
                                                hear it: a mel or a speech file through any runtime to a .wav
  gsv-trt optimize --version v4                 quality gate, benchmark, reports/<time>/report.md

--version: alone (gsv-trt --version) it prints gsv-trt's version; after a command (gsv-trt engine --version v4) it
  picks the GPT-SoVITS model version, v3 or v4 (the Makefile's VERSION=).
weights: without --weights or --gpt-sovits-root, commands use architecture-exact RANDOM weights and say so.
errors you can fix print one line and exit with status 2 (--debug after a command shows the traceback).
`gsv-trt COMMAND --help` lists a command's options and their defaults.
"""


class Parser(argparse.ArgumentParser):
    """Usage mistakes, like the errors a user can fix, are one line and exit status 2 (sub-commands inherit this)."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="gsv-trt", description=DESCRIPTION, epilog=EPILOG,
                    formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"gsv-trt {__version__}",
                        help="print gsv-trt's version and exit (after a command, --version v3|v4 picks the model)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
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
