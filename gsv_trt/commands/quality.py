"""gsv-trt quality: one candidate (ONNX, engine or a PyTorch mode) against upstream's fp32 eager, on real speech."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ._bench_options import add_quality_options
from ._common import add_command, add_weights_options, output_file


def register(sub) -> None:
    p = add_command(sub, "quality", "score a candidate vocoder against the fp32 reference on real speech", run,
                    description="Waveform cosine / MSE / SNR, log-mel L1 and multi-resolution STFT distance of "
                                "CANDIDATE against PyTorch eager fp32 on the bundled LibriTTS clip or your own "
                                "files, with the quality bar of its precision. Exit status 1 when it fails.")
    p.add_argument("candidate", help="X.onnx, X.plan, or eager-fp16 / eager-bf16 / torch-fast-fp16 / ...")
    add_weights_options(p, version_required=False)
    add_quality_options(p)
    p.add_argument("--json", type=output_file(".json"), default=None, help="also write the scores to this JSON file")


def run(args: argparse.Namespace) -> int:
    from ..bench.environment import detect
    from ..errors import GsvTrtError
    from ..quality.candidate import check_matches, open_candidate, parse_candidate, runtime_note
    from ..quality.evaluate import QualityBench
    from ..quality.mel import default_clips
    from ..report.summary import print_quality
    from ._common import load_from_args

    spec = parse_candidate(args.candidate)
    args.vocoder = args.vocoder or spec.version
    if args.vocoder is None:
        raise GsvTrtError(f"{args.candidate}: say which vocoder with --version v3|v4")
    check_matches(spec, args.vocoder)
    env = detect(args.device)
    print(f"device: {env.label}")
    loaded = load_from_args(args)
    check_matches(spec, args.vocoder, loaded.weights_sha256)
    candidate = open_candidate(spec, loaded, env.device)  # before the reference: refuse early
    clips = default_clips(loaded.spec, args.audio, args.clip_seconds)
    print("clips: " + "; ".join(c.describe() for c in clips))
    qb = QualityBench(loaded, clips, env.device, args.bar)
    score = qb.score(candidate, Path(args.candidate).name, spec.precision, runtime_note(candidate))
    result = score.to_dict()
    print_quality([result])
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    return 0 if score.passed else 1
