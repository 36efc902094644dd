"""gsv-trt cfm: run the CFM mel generator once on saved inputs, exactly upstream's ``CFM.inference`` call.

Every input file is checked (shape, dtype, NaN, lengths) and the runtime resolved before a model is loaded; on any
error nothing is written. Runtimes are a small table from name to opener: a runtime whose module is not in this
tree yet, or that cannot run on this machine, is refused in one line.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import GsvTrtError
from ._common import PRECISIONS, add_cfm_weights_options, add_command

# name -> opener(args): checks that the runtime can run here with these options (args.precision, args.device
# resolved, any option a runtime adds) before any model is loaded, and returns
# build(loaded) -> (inference(mu, prompt, steps, noise) -> mel, RuntimeInfo); numpy float32 in and out.
# An estimator runtime (CFMEstimator) gets its inference from runtime.cfm.euler: functools.partial(euler.inference, e)
Build = Callable[[object], tuple[Callable[..., np.ndarray], object]]
Opener = Callable[[argparse.Namespace], Build]


def _eager(args: argparse.Namespace) -> Build:
    from ..runtime.cfm.torch_eager import TorchEagerCFM

    def build(loaded):
        runner = TorchEagerCFM(loaded, args.precision, args.device)
        return runner.inference, runner.info

    return build


def _torch_fast(args: argparse.Namespace) -> Build:
    import torch

    from ..runtime.cfm.torch_fast import FastOptions, TorchFastCFM

    device = args.device
    if not device.startswith("cuda"):
        raise GsvTrtError(f"runtime torch-fast: not available here (needs a CUDA GPU, device is {device})")

    def build(loaded):
        runner = TorchFastCFM(loaded.model.estimator, FastOptions(precision=args.precision), device,
                              loaded.provenance)

        def inference(mu, prompt, steps, noise=None):
            def gpu(a):
                return None if a is None else torch.from_numpy(a).to(device)

            return runner.inference(gpu(mu), gpu(prompt), steps, gpu(noise)).float().cpu().numpy()

        return inference, runner.info

    return build


def _from_files(runtime: str, suffix: str) -> Opener:
    """ONNX-Runtime on the exported graph pair, or TensorRT on the engine pair: ``--engine`` (either file), else the
    files ``gsv-trt engine`` names for these weights and precision in ``--engine-dir``. Files of other weights than
    the loaded ones are refused."""

    def opener(args: argparse.Namespace) -> Build:
        from ..runtime import cuda

        if args.engine is not None and args.engine.suffix != suffix:
            raise GsvTrtError(f"--engine {args.engine}: runtime {runtime} takes a {suffix} file")
        if args.engine is not None and not args.engine.exists():
            raise GsvTrtError(f"--engine {args.engine}: no such file")
        pattern = f"gpt-sovits-{args.cfm_version}-cfm-step-{args.precision}-*{suffix}"
        if args.engine is None and not any(Path(args.engine_dir).glob(pattern)):
            raise GsvTrtError(f"runtime {runtime}: not available (no {pattern} in {args.engine_dir}; build it with "
                              f"gsv-trt engine --stage cfm --version {args.cfm_version} --precision {args.precision}, "
                              "or pass --engine)")
        if runtime == "tensorrt" and cuda.no_gpu_reason():
            raise GsvTrtError(f"runtime tensorrt: not available here ({cuda.no_gpu_reason()})")

        def build(loaded):
            import functools

            from ..export.artifacts import artifact_stem, weights_key
            from ..runtime.cfm import euler

            key = weights_key(loaded.weights_sha256, loaded.is_random)
            path = args.engine or Path(args.engine_dir) / (
                artifact_stem(loaded.version, "cfm-step", args.precision, key) + suffix)
            if not path.exists():
                raise GsvTrtError(f"{path}: none for these weights ({loaded.provenance}); build it with gsv-trt "
                                  f"engine --stage cfm and the same --sovits-weights, or pass --engine")
            if runtime == "onnxruntime":
                from ..runtime.cfm.onnx_runtime import OnnxRuntimeCFM as Estimator
            else:
                from ..runtime.cfm.trt_engine import TensorRTCFM as Estimator
            estimator = Estimator(path, weights_sha256=loaded.weights_sha256)
            return functools.partial(euler.inference, estimator), estimator.info

        return build

    return opener


RUNTIMES: dict[str, Opener] = {
    "eager": _eager,
    "onnxruntime": _from_files("onnxruntime", ".onnx"),
    "tensorrt": _from_files("tensorrt", ".plan"),
    "torch-fast": _torch_fast,
}


def register(sub) -> None:
    p = add_command(sub, "cfm", "run the CFM mel generator on saved inputs (upstream's CFM.inference)", run,
                    description="mel = CFM.inference(mu, [T], prompt, steps) as GPT-SoVITS v3/v4 call it, with "
                                "inference_cfg_rate 0, on the runtime and precision you choose. The mel is the "
                                "normalised one the CFM works in (GPT-SoVITS denormalises it before the vocoder).")
    add_cfm_weights_options(p)
    p.add_argument("--mu", type=Path, required=True,
                   help="MU.npy: SoVITS features, time-major float32 [B, T, 512], T <= 4096")
    p.add_argument("--prompt", type=Path, required=True,
                   help="PROMPT.npy: normalised prompt mel float32 [1, 100, T_prompt], T_prompt <= T")
    p.add_argument("--steps", type=int, required=True,
                   help="Euler steps (trained: 4, 8, 16, 32, 64; others run with a warning)")
    p.add_argument("--noise", type=Path, default=None,
                   help="NOISE.npy: the initial noise float32 [B, 100, T] (default: drawn as upstream draws it)")
    p.add_argument("--seed", type=int, default=None, help="seed torch before drawing the noise (without --noise)")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="compute precision; eager fp16 is upstream's is_half (whole model and loop in fp16)")
    p.add_argument("--runtime", choices=tuple(RUNTIMES), default="eager", help="which runtime runs the estimator")
    p.add_argument("--device", default=None, help="torch device for eager/torch-fast (default: cuda if present)")
    p.add_argument("--engine", type=Path, default=None,
                   help="onnxruntime: an exported CFM graph (.onnx), tensorrt: a CFM engine (.plan); either of the "
                        "pair (default: the one gsv-trt engine names for these weights in --engine-dir)")
    p.add_argument("--engine-dir", type=Path, default=Path("engines"),
                   help="where onnxruntime and tensorrt look for the files of these weights and --precision")
    p.add_argument("--out", type=Path, required=True, help="MEL.npy: the output mel, float32 [B, 100, T]")


def load_array(path: Path, option: str) -> np.ndarray:
    """A .npy file as an array, or a one-line error naming the file."""
    try:
        return np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise GsvTrtError(f"{option} {path}: no such file") from None
    except (ValueError, OSError, EOFError) as e:
        raise GsvTrtError(f"{option} {path}: not a readable .npy array ({e})") from None


def check_out(path: Path) -> None:
    if path.suffix != ".npy":
        raise GsvTrtError(f"--out {path}: expected a .npy file name")
    if not path.parent.is_dir():
        raise GsvTrtError(f"--out {path}: directory {path.parent} does not exist")


def run(args: argparse.Namespace) -> int:
    import warnings

    import torch

    from ..models.cfm.config import FULL_DIT
    from ..models.cfm.validate import UntrainedStepsWarning, check_inputs, check_steps
    from ._common import load_cfm_from_args

    check_out(args.out)
    mu = load_array(args.mu, "--mu")
    prompt = load_array(args.prompt, "--prompt")
    noise = None if args.noise is None else load_array(args.noise, "--noise")
    names = (f"--mu {args.mu}", f"--prompt {args.prompt}", f"--noise {args.noise}")
    check_inputs(mu, prompt, noise, text_dim=FULL_DIT.text_dim, max_frames=FULL_DIT.max_pos, names=names)
    warning = check_steps(args.steps, "--steps")
    args.device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    _check_device(args.device)
    build = RUNTIMES[args.runtime](args)
    if warning:
        print(f"warning: {warning}", file=sys.stderr)

    loaded = load_cfm_from_args(args)
    inference, info = build(loaded)
    if args.seed is not None:
        torch.manual_seed(args.seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UntrainedStepsWarning)  # printed above
        mel = inference(mu, prompt, args.steps, noise)
    np.save(args.out, mel)
    noise_from = f"noise from {args.noise}" if args.noise else (
        f"noise drawn with seed {args.seed}" if args.seed is not None else "noise drawn unseeded")
    print(f"wrote {args.out}: mel {list(mel.shape)} {mel.dtype}, {args.steps} steps, {noise_from}; "
          f"runtime {info.name} {info.precision} on {info.device}; {args.cfm_version} CFM with {loaded.provenance}")
    return 0


def _check_device(device: str) -> None:
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError as e:
        raise GsvTrtError(f"--device {device}: not a torch device ({e})") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise GsvTrtError(f"--device {device}: no CUDA GPU here")
