"""Options shared by several commands and the way they become objects."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable

PRECISIONS = ("fp32", "fp16", "bf16")
VERSIONS = ("v3", "v4")


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default, unless the help already names it or there is none to show (no
    value, a switch, an empty list); so no command's defaults have to be looked up in the source."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (not action.option_strings or "default" in text.lower() or default is argparse.SUPPRESS
                or default is None or isinstance(default, bool) or default in ([], ())):
            return text
        return f"{text} (default: %(default)s)"


def add_command(sub: argparse._SubParsersAction, name: str, help: str, run: Callable[[argparse.Namespace], int],
                description: str | None = None) -> argparse.ArgumentParser:
    """A sub-command parser with the options every command has (--debug), showing every option's default."""
    parser = sub.add_parser(name, help=help, description=description or help, formatter_class=HelpFormatter)
    parser.add_argument("--debug", action="store_true", help="show tracebacks instead of one-line errors")
    parser.set_defaults(run=run)
    return parser


def positive_float(text: str) -> float:
    """An argparse type: a number > 0 (argparse names the option in its error)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text}: must be a positive number")
    return value


def positive_int(text: str) -> int:
    """An argparse type: a whole number >= 1."""
    return _int_at_least(text, 1)


def non_negative_int(text: str) -> int:
    """An argparse type: a whole number >= 0."""
    return _int_at_least(text, 0)


def _int_at_least(text: str, low: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"{text}: must be at least {low}")
    return value


def output_file(*suffixes: str) -> Callable[[str], Path]:
    """An argparse type for a file the command will write: one of ``suffixes`` and not a directory. Checked while
    parsing, so a wrong --out is refused before any model loads."""

    def parse(text: str) -> Path:
        path = Path(text)
        if path.suffix.lower() not in suffixes:
            raise argparse.ArgumentTypeError(f"{text}: the output file must end in {' or '.join(suffixes)}")
        if path.is_dir():
            raise argparse.ArgumentTypeError(f"{text}: is a directory")
        return path

    return parse


def add_weights_options(parser: argparse.ArgumentParser, version_required: bool = True) -> None:
    """--version, --weights, --gpt-sovits-root: which vocoder, from which files."""
    parser.add_argument("--version", dest="vocoder", choices=VERSIONS, required=version_required,
                        help="GPT-SoVITS model version (after a command; `gsv-trt --version` alone prints gsv-trt's "
                             "own version)")
    parser.add_argument("--weights", default="random",
                        help='v3: directory with config.json + bigvgan_generator.pt; v4: vocoder.pth; '
                             '"random" (default): architecture-exact random weights at trained-like scales, seed 0')
    parser.add_argument("--gpt-sovits-root", type=Path, default=None,
                        help="a GPT-SoVITS checkout; the vocoder is taken from GPT_SoVITS/pretrained_models/")


def load_from_args(args: argparse.Namespace):
    """The LoadedVocoder the weights options select, announcing random weights on stderr."""
    import sys

    from ..models.vocoder import load_vocoder

    loaded = load_vocoder(args.vocoder, args.weights, args.gpt_sovits_root)
    if loaded.is_random:
        print(f"note: {args.vocoder} vocoder with {loaded.provenance}", file=sys.stderr)
    return loaded


def add_cfm_weights_options(parser: argparse.ArgumentParser, beside_vocoder: bool = False) -> None:
    """--version, --sovits-weights, --gpt-sovits-root, --lora-base: which CFM, from which SoVITS file.
    ``beside_vocoder``: the parser has ``add_weights_options`` already (--version and --gpt-sovits-root serve both)."""
    if not beside_vocoder:
        parser.add_argument("--version", dest="cfm_version", choices=VERSIONS, required=True,
                            help="GPT-SoVITS model version of the CFM")
    parser.add_argument("--sovits-weights", default="random",
                        help='a SoVITS file (s2Gv3.pth, s2Gv4.pth, a fine-tune or a LoRA); "random" (default): '
                             "architecture-exact random weights, seed 0")
    if not beside_vocoder:
        parser.add_argument("--gpt-sovits-root", type=Path, default=None,
                            help="a GPT-SoVITS checkout; the pretrained SoVITS file is taken from its "
                                 "pretrained_models/")
    parser.add_argument("--lora-base", type=Path, default=None,
                        help="the full SoVITS file a LoRA --sovits-weights is merged onto (default: the pretrained one)")


def load_cfm_from_args(args: argparse.Namespace, version: str | None = None):
    """The LoadedCFM the CFM weights options select (``version``: default ``--version``), announcing random weights
    on stderr."""
    import sys

    from ..models.cfm.loader import load_cfm

    version = version or args.cfm_version
    loaded = load_cfm(version, args.sovits_weights, args.gpt_sovits_root, args.lora_base)
    if loaded.is_random:
        print(f"note: {version} CFM with {loaded.provenance}", file=sys.stderr)
    return loaded
