"""gsv-trt synthesize: a request's semantic tokens and phones to a WAV, through the whole v3/v4 synthesis stage.

The request (REQ.json, see gsv_trt/synthesis/request.py), the reference clip, the output name and the runtime are
all checked before a model loads; on any error nothing is written.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ..errors import GsvTrtError
from ._common import PRECISIONS, add_cfm_weights_options, add_command, output_file, positive_int
from .build import parse_size

PATHS = ("batched", "sequential", "stream")
RUNTIMES = ("auto", "eager", "torch-fast", "tensorrt", "onnxruntime")


def register(sub) -> None:
    p = add_command(sub, "synthesize", "semantic tokens + phones -> speech, the whole v3/v4 synthesis stage", run,
                    description="SoVITS front end, CFM and vocoder as GPT-SoVITS's TTS.using_vocoder_synthesis "
                                "(--path sequential) and using_vocoder_synthesis_batched_infer (--path batched, "
                                "upstream's default) run them, or streamed (--path stream). Writes every "
                                "segment's audio back to back as float32 WAV at the model's rate.")
    add_cfm_weights_options(p)
    p.add_argument("--vocoder-weights", default="random",
                   help='v3: directory with config.json + bigvgan_generator.pt; v4: vocoder.pth; "random": '
                        "architecture-exact random weights (default; taken from --gpt-sovits-root when given)")
    p.add_argument("--request", type=Path, required=True,
                   help='REQ.json: {"ref_audio", "prompt_semantic", "prompt_phones", "segments": '
                        '[{"semantic", "phones"}...], "speed"}')
    p.add_argument("--out", type=output_file(".wav"), required=True, help="OUT.wav (float32)")
    p.add_argument("--steps", type=positive_int, default=32, help="CFM Euler steps (upstream's sample_steps)")
    p.add_argument("--path", choices=PATHS, default="batched", help="which synthesis path")
    p.add_argument("--runtime", choices=RUNTIMES, default="auto",
                   help="runtime of the CFM and the vocoder (auto: TensorRT where an installed TensorRT runs on the "
                        "GPU, else torch-fast on a CUDA GPU, else eager); tensorrt and onnxruntime use the engines / "
                        "graphs of these weights in --engine-dir, exported, checked and built there when missing")
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="compute precision of CFM and vocoder (default: fp16 on a GPU, fp32 on the CPU)")
    p.add_argument("--seed", type=int, default=None, help="seed the noise once for the request (upstream's set_seed)")
    p.add_argument("--device", default=None, help="torch device (default: cuda if present)")
    group = p.add_argument_group("engines (--runtime tensorrt / onnxruntime)")
    group.add_argument("--engine-dir", type=Path, default=Path("engines"),
                       help="where the graphs and engines of these weights are kept (gsv-trt engine's names)")
    group.add_argument("--max-batch", type=positive_int, default=None,
                       help="largest batch of a new engine (default 8; the batched path sends all chunks at once)")
    group.add_argument("--workspace", type=parse_size, default=None, metavar="SIZE",
                       help="TensorRT builder workspace limit of a new engine, e.g. 4GiB (default: TensorRT's)")
    group.add_argument("--force", action="store_true",
                       help="export and build again, replacing files made from other weights")


def run(args: argparse.Namespace) -> int:
    import warnings

    import numpy as np
    import soundfile as sf
    import torch

    from ..models.cfm.validate import UntrainedStepsWarning, check_steps
    from ..models.sovits.reference_audio import prepare_reference, read_reference
    from ..synthesis.loader import open_stage
    from ..synthesis.runners import EngineOptions
    from ..synthesis.request import read_request

    version = args.cfm_version
    request = read_request(args.request)
    reference = read_reference(request.ref_audio)
    if not args.out.parent.is_dir():
        raise GsvTrtError(f"--out {args.out}: directory {args.out.parent} does not exist")
    try:
        device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    except RuntimeError as e:
        raise GsvTrtError(f"--device {args.device}: not a torch device ({e})") from None
    warning = check_steps(args.steps, "--steps")
    if warning:
        print(f"warning: {warning}", file=sys.stderr)

    engines = EngineOptions(args.engine_dir, args.workspace, args.max_batch, args.force)
    opened = open_stage(version, args.sovits_weights, args.vocoder_weights, args.runtime, args.precision, device,
                        args.gpt_sovits_root, args.lora_base, engines)
    stage = opened.stage
    for part, info in opened.parts.items():
        print(f"{part}: {info.name} {info.precision} on {info.device}; {info.detail}")
    clock = stage.measure()
    generator = None if args.seed is None else torch.Generator(device).manual_seed(args.seed)
    first_audio = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedStepsWarning)  # printed above
        start = time.perf_counter()
        prompt = stage.prompt(prepare_reference(reference, version), request.prompt_codes, request.prompt_phones)
        if args.path == "stream":
            pieces = []
            for piece in stage.stream(prompt, request.segments, args.steps, request.speed, generator):
                if first_audio is None:
                    piece = piece.cpu()
                    first_audio = time.perf_counter() - start
                pieces.append(piece)
        else:
            pieces = stage.synthesize(prompt, request.segments, args.path, args.steps, request.speed, generator)
        audio = torch.cat([p.to(device) for p in pieces]).float().cpu().numpy()
        elapsed = time.perf_counter() - start
    seconds = len(audio) / stage.sample_rate
    sf.write(args.out, audio.astype(np.float32), stage.sample_rate, subtype="FLOAT")
    parts = ", ".join(f"{name} {s * 1000:.0f} ms" for name, s in clock.seconds().items())
    random = f"; RANDOM weights: {', '.join(opened.random)} (not trained models)" if opened.random else ""
    print(f"wrote {args.out}: {seconds:.2f} s of {version} audio at {stage.sample_rate} Hz, "
          f"{len(request.segments)} segment(s), {args.path} path, {args.steps} steps, "
          f"seed {args.seed if args.seed is not None else 'none'}{random}")
    ttfa = f", time to first audio {first_audio * 1000:.0f} ms" if first_audio is not None else ""
    print(f"took {elapsed:.2f} s (real-time factor {elapsed / seconds:.3f}{ttfa}); {parts}")
    return 0
