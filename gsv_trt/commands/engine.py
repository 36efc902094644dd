"""``gsv-trt engine --version v3|v4 --precision fp32|fp16|bf16 [--stage vocoder|cfm|all]``: export -> check ->
build in one step, cached. ``make engine`` calls this.

The work is ``build.engines`` (shared with the synthesis stage). Every file is named by
``export.artifacts.artifact_stem``: ``OUT_DIR/gpt-sovits-VERSION-COMPONENT-PRECISION-KEY``
with ``.onnx``, ``.plan`` and ``.json``, KEY ``random`` or the weights' sha256 prefix, COMPONENT ``vocoder``,
``cfm-condition`` or ``cfm-step``. So engines of different weights never share a name, and a file of other weights
is replaced only with ``--force``. An ONNX is reused when its metadata says it holds the same weights, precision and
fp32 islands from this gsv-trt version (a graph that fails the check is deleted, so a reused one passed it, unless
it was exported with --no-check); an engine is reused when its sidecar's build inputs match.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..errors import GsvTrtError
from ._common import PRECISIONS, add_cfm_weights_options, add_command, add_weights_options, load_from_args
from .build import add_build_options, check_build_options, options_from_args

STAGES = ("vocoder", "cfm", "all")


def cfm_islands(args: argparse.Namespace) -> tuple[str, ...]:
    from ..export.cfm.precision import parse_islands

    if not args.fp32_islands and args.cfm_fp32_islands is not None:
        raise GsvTrtError("give either --no-fp32-islands or --cfm-fp32-islands, not both")
    return parse_islands(args.cfm_fp32_islands or "default", args.precision) if args.fp32_islands else ()


def recipe_from_args(args: argparse.Namespace, islands: tuple[str, ...] | None = None):
    """The build.engines Recipe the options describe (every build option of ``gsv-trt build``)."""
    from ..build.engines import Recipe
    from ..runtime.cuda import gpu_info

    def options_for(component: str, version: str, plan: Path):
        return options_from_args(args, plan, component, version)

    return Recipe(args.precision, options_for, force=args.force, check=not args.no_check,
                  vocoder_islands=args.fp32_islands, cfm_islands=islands, gpu=gpu_info(args.device), verbose=args.verbose)


def run(args: argparse.Namespace) -> int:
    from ..build.engines import cfm_engines, vocoder_engine
    from ._common import load_cfm_from_args

    out_dir = Path(args.out_dir)
    stages = ("vocoder", "cfm") if args.stage == "all" else (args.stage,)
    islands = cfm_islands(args)
    for stage, component in (("vocoder", "vocoder"), ("cfm", "cfm-step")):
        if stage in stages:  # bad build options fail here, before a model loads
            check_build_options(args, out_dir / "check.plan", component, args.vocoder)
    recipe = recipe_from_args(args, islands)
    built = [vocoder_engine(load_from_args(args), out_dir, recipe)] if "vocoder" in stages else []
    if "cfm" in stages:
        built += cfm_engines(load_cfm_from_args(args, args.vocoder), out_dir, recipe)
    for plan, sidecar in built:
        print(f"engine: {plan}")
        print(f"sidecar: {plan.with_suffix('.json')}")
        print(f"tensorrt: {sidecar['tensorrt']['flavour']} {sidecar['tensorrt']['version']}, compute capability "
              f"{', '.join(sidecar['targets']['compute_capabilities'])}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = add_command(sub, "engine", "export -> check -> build the vocoder and CFM engines (cached; what `make "
                         "engine` runs)", run)
    add_weights_options(parser)
    add_cfm_weights_options(parser, beside_vocoder=True)
    parser.add_argument("--stage", choices=STAGES, default="all",
                        help="which engines: the vocoder's, the CFM's two (conditioner and step), or all")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp16", help="compute precision of the engines")
    parser.add_argument("--no-fp32-islands", dest="fp32_islands", action="store_false",
                        help="fp16/bf16: no fp32 islands (vocoder: SnakeBeta and the output conv are kept fp32 by "
                             "default; CFM: see --cfm-fp32-islands)")
    parser.add_argument("--cfm-fp32-islands", default=None, metavar="LIST",
                        help="fp16/bf16: the CFM's fp32 islands, from norm,adaln,rope,softmax,grn,mish "
                             "(default: all but mish at fp16, all at bf16; 'none' for none)")
    parser.add_argument("--out-dir", default="engines", help="where the .onnx, .plan and .json go")
    parser.add_argument("--no-check", action="store_true",
                        help="skip comparing the exported graphs with PyTorch (ONNX-Runtime on the CPU)")
    add_build_options(parser)
