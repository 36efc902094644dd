"""gsv-trt check: Polygraphy compares ONNX-Runtime on the graph against our PyTorch fp32 model: a vocoder graph, or
the CFM's pair (either file)."""

from __future__ import annotations

import argparse
from pathlib import Path


def _ints(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected comma-separated integers") from None
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: values must be >= 1")
    return values


def register(sub) -> None:
    from ._common import add_command

    p = add_command(sub, "check", "compare an exported ONNX graph with the PyTorch fp32 model (Polygraphy)", run)
    p.add_argument("onnx", type=Path, help="a graph written by gsv-trt export (the CFM: either of its two graphs)")
    p.add_argument("--weights", default=None,
                   help="reference weights: a vocoder checkpoint, or for the CFM a SoVITS file (default: those "
                        "recorded in the graph)")
    p.add_argument("--lora-base", type=Path, default=None,
                   help="CFM: the full SoVITS file a LoRA --weights is merged onto (default: the pretrained one)")
    p.add_argument("--gpt-sovits-root", type=Path, default=None,
                   help="a GPT-SoVITS checkout to take the reference weights from (instead of --weights)")
    p.add_argument("--frames", type=_ints, default=None,
                   help="lengths T, e.g. 1,23,96 (default: vocoder 1,23,96; CFM 17,250,934,1000)")
    p.add_argument("--batches", type=_ints, default=None, help="batch sizes, e.g. 1,2 (default: vocoder 1,2; CFM 1,3)")
    p.add_argument("--speech", type=Path, default=None, help="a wav file of speech (default: the shipped clip)")
    p.add_argument("--verbose", action="store_true", help="show Polygraphy's full comparison log")


def run(args: argparse.Namespace) -> int:
    from ..export.metadata import ANY, read_metadata

    if read_metadata(args.onnx, ANY)["component"] != "vocoder":
        from ..export.cfm.check import DEFAULT_BATCHES as CFM_BATCHES, check_cfm

        ok = check_cfm(args.onnx, frames=args.frames, batches=args.batches or CFM_BATCHES, speech=args.speech,
                       verbose=args.verbose, sovits_weights=args.weights, gpt_sovits_root=args.gpt_sovits_root,
                       lora_base=args.lora_base)
        return 0 if ok else 1
    from ..export.vocoder.check import DEFAULT_BATCHES, DEFAULT_FRAMES, check_onnx

    ok = check_onnx(args.onnx, args.weights, args.gpt_sovits_root, args.frames or DEFAULT_FRAMES,
                    args.batches or DEFAULT_BATCHES, args.speech, args.verbose)
    return 0 if ok else 1
