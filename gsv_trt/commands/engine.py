"""``gsv-trt engine --version v3|v4 --precision fp32|fp16|bf16 [--stage vocoder|cfm|all]``: export -> check ->
build in one step, cached. ``make engine`` calls this.

Every file is named by ``export.artifacts.artifact_stem``: ``OUT_DIR/gpt-sovits-VERSION-COMPONENT-PRECISION-KEY``
with ``.onnx``, ``.plan`` and ``.json``, KEY ``random`` or the weights' sha256 prefix, COMPONENT ``vocoder``,
``cfm-condition`` or ``cfm-step``. So engines of different weights never share a name, and a file of other weights
is replaced only with ``--force``. An ONNX is reused when its metadata says it holds the same weights, precision and
fp32 islands from this gsv-trt version (a graph that fails the check is deleted, so a reused one passed it, unless
it was exported with --no-check); an engine is reused when its sidecar's build inputs match.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..errors import GsvTrtError
from ._common import PRECISIONS, add_cfm_weights_options, add_command, add_weights_options, load_from_args
from .build import add_build_options, build_from_args, check_build_options

STAGES = ("vocoder", "cfm", "all")
# the CFM check here: a short call and the version's chunk, at B 1 and 3; `gsv-trt check`'s default adds 250 frames
# and the other version's chunk, at about twice the time
ENGINE_CHECK_FRAMES = {"v3": (17, 934), "v4": (17, 1000)}


def say(line: str) -> None:
    print(line, file=sys.stderr)


def onnx_is_current(onnx: Path, wanted: dict[str, str]) -> bool:
    """Whether ``onnx`` was exported with the ``wanted`` metadata (weights, precision, islands, gsv-trt version)."""
    from ..export.metadata import ANY, read_metadata

    if not onnx.exists():
        return False
    try:
        meta = read_metadata(onnx, ANY)
    except GsvTrtError:
        return False
    return all(meta.get(k) == v for k, v in wanted.items())


def guard_replacement(path: Path, weights: str, weights_sha256: str, force: bool) -> None:
    """Refuse to overwrite an ONNX exported from other weights unless ``force``; say what ``force`` replaces."""
    from ..export.artifacts import describe_weights, replacement_problem
    from ..export.metadata import ANY, read_metadata

    if not path.exists():
        return
    try:
        meta = read_metadata(path, ANY)
    except GsvTrtError:
        return  # not a graph of ours: nothing says it holds weights worth keeping
    held = (meta["weights"], meta["weights_sha256"])
    problem = replacement_problem(path, held, (weights, weights_sha256))
    if problem and not force:
        raise GsvTrtError(problem)
    if problem:
        say(f"replacing {path}, exported from {describe_weights(*held)} (--force)")


def cfm_islands(args: argparse.Namespace) -> tuple[str, ...]:
    from ..export.cfm.precision import parse_islands

    if not args.fp32_islands and args.cfm_fp32_islands is not None:
        raise GsvTrtError("give either --no-fp32-islands or --cfm-fp32-islands, not both")
    return parse_islands(args.cfm_fp32_islands or "default", args.precision) if args.fp32_islands else ()


def vocoder_engine(args: argparse.Namespace, out_dir: Path) -> list[tuple[Path, dict]]:
    """Export, check and build the vocoder engine; [(plan, sidecar)]."""
    from .. import __version__
    from ..export.artifacts import artifact_stem, weights_key
    from ..export.vocoder.check import check_onnx
    from ..export.vocoder.exporter import export_onnx
    from ..export.vocoder.precision import islands_for

    loaded = load_from_args(args)
    stem = artifact_stem(args.vocoder, "vocoder", args.precision, weights_key(loaded.weights_sha256, loaded.is_random))
    onnx, plan = out_dir / f"{stem}.onnx", out_dir / f"{stem}.plan"
    wanted = {"gsv_trt_version": __version__, "vocoder": args.vocoder, "precision": args.precision,
              "fp32_islands": ",".join(islands_for(args.vocoder, args.precision, args.fp32_islands)),
              "weights_sha256": loaded.weights_sha256}
    if onnx_is_current(onnx, wanted) and not args.force:
        say(f"reusing exported {onnx} (same weights, precision and fp32 islands)")
    else:
        guard_replacement(onnx, loaded.weights, loaded.weights_sha256, args.force)
        say(f"exporting {onnx}")
        export_onnx(loaded, onnx, args.precision, args.fp32_islands)
        if args.no_check:
            say("note: --no-check: the graph was not compared with PyTorch")
        elif not check_onnx(onnx, log=say):
            onnx.unlink()
            raise GsvTrtError(f"{onnx}: the exported graph does not match the PyTorch model (see above); "
                              "no engine built")
    sidecar = build_from_args(args, onnx, plan)
    if loaded.is_random:
        say(f"note: {plan.name} holds {loaded.provenance}; pass --weights or --gpt-sovits-root for a real one")
    return [(plan, sidecar)]


def cfm_engines(args: argparse.Namespace, out_dir: Path, loaded, islands: tuple[str, ...] | None = None
                ) -> list[tuple[Path, dict]]:
    """Export both CFM graphs of ``loaded`` (a LoadedCFM) with fp32 ``islands`` (default: the precision's), check
    them, build both engines; [(plan, sidecar)]."""
    from .. import __version__
    from ..export.artifacts import artifact_stem, weights_key
    from ..export.cfm.check import check_cfm
    from ..export.cfm.exporter import export_cfm, pair_paths, resolve_islands, used_islands

    precision, version = args.precision, loaded.version
    islands = resolve_islands(precision, islands)
    stem = artifact_stem(version, "cfm-step", precision, weights_key(loaded.weights_sha256, loaded.is_random))
    onnxs = pair_paths(out_dir / f"{stem}.onnx")  # (condition, step)
    shared = {"gsv_trt_version": __version__, "version": version, "precision": precision,
              "weights_sha256": loaded.weights_sha256,
              "cfm_config": json.dumps(loaded.model.estimator.cfg.to_dict(), sort_keys=True)}
    current = all(onnx_is_current(path, {**shared, "fp32_islands": ",".join(used_islands(component, islands)),
                                         "pair": partner.name})
                  for path, partner, component in zip(onnxs, onnxs[::-1], ("cfm-condition", "cfm-step")))
    if current and not args.force:
        say(f"reusing exported {onnxs[0].name} + {onnxs[1].name} (same weights, precision and fp32 islands)")
    else:
        for path in onnxs:
            guard_replacement(path, loaded.weights, loaded.weights_sha256, args.force)
        say(f"exporting {onnxs[0]} + {onnxs[1].name}")
        export_cfm(loaded, onnxs[1], precision, islands)
        if args.no_check:
            say("note: --no-check: the graphs were not compared with PyTorch")
        elif not check_cfm(onnxs[1], loaded=loaded, frames=ENGINE_CHECK_FRAMES[version], log=say):
            for path in onnxs:
                path.unlink()
            raise GsvTrtError(f"{onnxs[1]}: the exported CFM graphs do not match the PyTorch model (see above); "
                              "no engine built")
    built = [(onnx.with_suffix(".plan"), build_from_args(args, onnx, onnx.with_suffix(".plan"))) for onnx in onnxs]
    if loaded.is_random:
        say(f"note: the CFM engines hold {loaded.provenance}; pass --sovits-weights or --gpt-sovits-root for real "
            "ones")
    return built


def run(args: argparse.Namespace) -> int:
    from ._common import load_cfm_from_args

    out_dir = Path(args.out_dir)
    stages = ("vocoder", "cfm") if args.stage == "all" else (args.stage,)
    islands = cfm_islands(args)
    for stage, component in (("vocoder", "vocoder"), ("cfm", "cfm-step")):
        if stage in stages:  # bad build options fail here, before a model loads
            check_build_options(args, out_dir / "check.plan", component, args.vocoder)
    built = vocoder_engine(args, out_dir) if "vocoder" in stages else []
    if "cfm" in stages:
        built += cfm_engines(args, out_dir, load_cfm_from_args(args, args.vocoder), islands)
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
