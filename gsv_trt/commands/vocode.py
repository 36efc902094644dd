"""``gsv-trt vocode``: hear what a runtime makes. A mel (``.npy``) or speech (``.wav``, re-synthesised through the
mel GPT-SoVITS would compute from it) goes through eager PyTorch, ONNX Runtime, a TensorRT engine or torch-fast,
and comes out as a float WAV at the vocoder's rate. Every argument is checked before a model loads."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..errors import GsvTrtError
from ..runtime.vocoder.open import RUNTIMES, SUFFIX_RUNTIME
from ._common import PRECISIONS, add_command, add_weights_options, output_file

ENGINE_SUFFIX = {runtime: suffix for suffix, runtime in SUFFIX_RUNTIME.items()}


def register(sub: argparse._SubParsersAction) -> None:
    p = add_command(sub, "vocode", "turn a mel (.npy) or speech (.wav) into a .wav through any runtime", run,
                    description="Run a vocoder on a log-mel saved as .npy, or on the mel of a speech file (computed "
                                "as GPT-SoVITS computes it, so the output is a re-synthesis you can compare by ear), "
                                "and write a float32 WAV at the vocoder's rate (v3 24 kHz, v4 48 kHz). With RANDOM "
                                "weights the result is not speech, and the WAV's comment says so.")
    add_weights_options(p, version_required=False)
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--mel", type=Path, metavar="MEL.npy",
                        help="a natural-log mel [100, T] or [1, 100, T] with the version's mel settings (what "
                             "GPT-SoVITS hands its vocoder)")
    source.add_argument("--wav", type=Path, metavar="SPEECH.wav", help="speech, any rate, mono or stereo")
    p.add_argument("--runtime", choices=RUNTIMES, default=None,
                   help="which runtime (default: the one --engine's suffix implies, else eager)")
    p.add_argument("--engine", type=Path, default=None, metavar="FILE",
                   help="X.onnx for onnxruntime or X.plan for tensorrt (it carries its own version and weights)")
    p.add_argument("--precision", choices=PRECISIONS, default=None,
                   help="compute precision of eager / torch-fast (default fp32 eager, fp16 torch-fast; an engine "
                        "file has its own)")
    p.add_argument("--device", default="auto", help="auto (the GPU if there is one), cpu, cuda or cuda:N")
    p.add_argument("--compile", choices=("none", "default"), default="none",
                   help="torch-fast only: none keeps the hand-fused path (starts in seconds); default runs "
                        "torch.compile per length bucket (about 1 ms faster a call, 15-26 s per bucket the first "
                        "time)")
    p.add_argument("--out", type=output_file(".wav"), required=True, metavar="OUT.wav", help="the WAV to write")


def check_arguments(args: argparse.Namespace) -> str:
    """The runtime to use; every inconsistency among the arguments refused before anything loads."""
    runtime = args.runtime
    if args.engine is not None:
        implied = SUFFIX_RUNTIME.get(args.engine.suffix)
        if implied is None:
            raise GsvTrtError(f"{args.engine}: --engine takes an .onnx graph or a .plan engine")
        if runtime not in (None, implied):
            raise GsvTrtError(f"{args.engine}: is for {implied}, but --runtime is {runtime}")
        runtime = implied
        if not args.engine.is_file():
            raise GsvTrtError(f"{args.engine}: no such file")
        if args.weights != "random" or args.gpt_sovits_root is not None:
            raise GsvTrtError(f"{args.engine}: carries its own weights; --weights and --gpt-sovits-root are for "
                              "the eager and torch-fast runtimes")
    runtime = runtime or "eager"
    if args.compile != "none" and runtime != "torch-fast":
        raise GsvTrtError(f"--compile {args.compile}: only the torch-fast runtime compiles, not {runtime}")
    if runtime in ENGINE_SUFFIX and args.engine is None:
        raise GsvTrtError(f"--runtime {runtime}: give the file to run with --engine X{ENGINE_SUFFIX[runtime]}")
    if runtime not in ENGINE_SUFFIX and args.vocoder is None:
        raise GsvTrtError(f"--runtime {runtime}: say which vocoder with --version v3|v4")
    source = args.mel if args.mel is not None else args.wav
    if not source.is_file():
        raise GsvTrtError(f"{source}: no such file")
    if args.mel is not None and args.mel.suffix != ".npy":
        raise GsvTrtError(f"{args.mel}: --mel takes a numpy .npy file")
    return runtime


def read_mel(path: Path):
    """A mel saved with ``numpy.save``: [100, T] or [1, 100, T]."""
    import numpy as np

    try:
        mel = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise GsvTrtError(f"{path}: not a readable .npy array ({e})") from None
    if mel.ndim not in (2, 3) or mel.shape[-2] != 100 or mel.shape[-1] < 1:
        raise GsvTrtError(f"{path}: shape {list(mel.shape)} is not a mel [100, T] or [1, 100, T]")
    if mel.ndim == 3 and mel.shape[0] != 1:
        raise GsvTrtError(f"{path}: holds {mel.shape[0]} mels [B, 100, T]; vocode takes one at a time")
    return mel


def write_wav(path: Path, wav, sample_rate: int, comment: str) -> None:
    """float32 WAV, written beside ``path`` first and moved into place, so a failure leaves no partial file."""
    import soundfile

    tmp = path.with_name(f".{path.name}.partial.wav")
    try:
        with soundfile.SoundFile(str(tmp), "w", sample_rate, 1, subtype="FLOAT", format="WAV") as f:
            f.comment = comment
            f.write(wav)
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def run(args: argparse.Namespace) -> int:
    from ..runtime.vocoder.open import describe_file, open_vocoder

    runtime = check_arguments(args)
    if args.engine is not None:
        fields = describe_file(runtime, args.engine)
        if args.vocoder not in (None, fields["vocoder"]):
            raise GsvTrtError(f"{args.engine}: holds the {fields['vocoder']} vocoder, but --version is {args.vocoder}")
        args.vocoder = fields["vocoder"]
    if args.mel is not None:
        mel = read_mel(args.mel)
    else:
        from ..models.vocoder import spec_for
        from ..quality.mel import load_clip

        mel = load_clip(args.wav, spec_for(args.vocoder)).mel
    voc = open_vocoder(args.engine or runtime, args.vocoder, args.weights, args.precision, args.device,
                       args.gpt_sovits_root, args.compile)
    with voc:
        wav = voc(mel)
    samples = wav.reshape(-1)
    write_wav(args.out, samples, voc.sample_rate, f"gsv-trt vocode: {voc.provenance}")
    print(f"wrote {args.out}: {samples.size / voc.sample_rate:.2f} s at {voc.sample_rate} Hz, float32, from "
          f"{args.mel or args.wav} ({mel.shape[-1]} frames), {voc.provenance}")
    if voc.source.is_random:
        print("note: RANDOM weights: the audio is not speech; pass --weights or --gpt-sovits-root (or an engine "
              "built from real weights) to hear the vocoder", file=sys.stderr)
    return 0
