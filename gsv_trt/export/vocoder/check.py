"""``gsv-trt check``: Polygraphy runs the ONNX graph with ONNX-Runtime and compares it to our PyTorch fp32 model.

Inputs are real speech (the shipped LibriTTS clip, mel as GPT-SoVITS computes it), a silent mel of the same length,
and random log-mels at several lengths and batch sizes. Tolerances depend on the graph's precision and are printed
with the result. The speech and silence outputs also show whether the graph responds to its input: where the PyTorch
model's outputs for the two differ by more than the tolerance, a graph whose outputs do not fails. With weights as
degenerate as upstream's untrained init the model itself hardly responds; the check says then that it cannot tell a
graph that ignores its input from a right one (``--weights random`` is spread so that it can).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from polygraphy.backend.onnxrt import OnnxrtRunner, SessionFromOnnx
from polygraphy.comparator import Comparator
from polygraphy.comparator.compare import SimpleCompareFunc
from polygraphy.logger import G_LOGGER

from ...errors import GsvTrtError
from ...models.vocoder import load_vocoder, spec_for
from ...models.vocoder.init import SILENT_LOG_MEL
from ...models.mel import speech_mel
from .exporter import INPUT, OUTPUT
from ..metadata import read_metadata
from ..torch_runner import TorchRunner, run_both


@dataclass(frozen=True)
class Tolerance:
    """Pass when the chosen error statistic of |onnx - torch| over the waveform is at most ``atol``."""

    stat: str  # polygraphy check_error_stat: "max" or "mean"
    atol: float
    why: str


TOLERANCES = {
    "fp32": Tolerance("max", 1e-4, "same arithmetic; only summation order differs"),
    "fp16": Tolerance("mean", 2e-3, "NVIDIA's gate for its fused BigVGAN kernel vs PyTorch (mean |diff| <= 2e-3)"),
    "bf16": Tolerance("mean", 1e-2, "bf16 keeps 8 mantissa bits, ~8x coarser than fp16"),
}
DEFAULT_FRAMES = (1, 23, 96)
DEFAULT_BATCHES = (1, 2)
SPEECH_FRAMES = 150  # ~1.5 s of the clip: several words, quick on a CPU


def random_mel(batch: int, frames: int, seed: int) -> np.ndarray:
    """Log-mel-like noise: values in upstream's range (ln 1e-5 = -11.5 up to ~2)."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(-5.0, 2.5, size=(batch, 100, frames)), -11.5, 2.0).astype(np.float32)


def feeds(version: str, frames: tuple[int, ...], batches: tuple[int, ...], speech: Path | None) -> list[tuple[str, dict]]:
    """(label, feed dict) pairs: real speech, silence of the same length, then random mels for every (B, T)."""
    mel = speech_mel(spec_for(version).mel, speech, SPEECH_FRAMES)
    out = [("speech", {INPUT: mel}), ("silence", {INPUT: np.full_like(mel, SILENT_LOG_MEL)})]
    for b in batches:
        for t in frames:
            out.append((f"random B={b} T={t}", {INPUT: random_mel(b, t, seed=1000 * b + t)}))
    return out


def check_onnx(path: str | Path, weights: str | None = None, gpt_sovits_root: str | None = None,
               frames: tuple[int, ...] = DEFAULT_FRAMES, batches: tuple[int, ...] = DEFAULT_BATCHES,
               speech: Path | None = None, verbose: bool = False, log=print, loaded=None) -> bool:
    """Compare the graph with the fp32 PyTorch model on the same weights; True when every input passes.

    The weights default to the ones recorded in the graph's metadata ("random" or the checkpoint path); ``loaded``
    (a LoadedVocoder) gives the model directly, e.g. weights that live only in memory.
    """
    path = Path(path)
    meta = read_metadata(path)
    version, precision = meta["vocoder"], meta["precision"]
    loaded = loaded or load_vocoder(version, weights or meta["weights"], gpt_sovits_root)
    if loaded.weights_sha256 != meta["weights_sha256"]:
        raise GsvTrtError(f"{path}: exported from weights {meta['weights_sha256'][:12]}, "
                          f"but the reference loaded {loaded.weights_sha256[:12]} ({loaded.weights})")
    G_LOGGER.module_severity = G_LOGGER.INFO if verbose else G_LOGGER.ERROR
    tol = TOLERANCES[precision]
    islands = meta["fp32_islands"] or "none"
    log(f"checking {path} ({version}, {precision}, fp32 islands: {islands}) with {loaded.provenance}")
    log(f"tolerance: {tol.stat} |onnx - pytorch fp32| <= {tol.atol:g}  ({tol.why})")
    caveat = cpu_half_caveat(precision)
    if caveat:
        log(f"note: {caveat}")
    onnx_runner = OnnxrtRunner(SessionFromOnnx(str(path), providers=["CPUExecutionProvider"]), name="onnxruntime")
    torch_runner = TorchRunner(loaded.model, INPUT, OUTPUT)
    compare = SimpleCompareFunc(atol=tol.atol, rtol=0.0, check_error_stat=tol.stat)
    all_ok = True
    outputs: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # label -> (pytorch, onnx)
    for label, feed in feeds(version, frames, batches, speech):
        results = run_both([torch_runner, onnx_runner], feed, precision, str(path))
        ref = results[torch_runner.name][0][OUTPUT]
        out = results[onnx_runner.name][0][OUTPUT]
        ok = bool(Comparator.compare_accuracy(results, compare_func=compare))
        diff = np.abs(out.astype(np.float64) - ref)
        err = out.astype(np.float64) - ref
        snr = 10 * np.log10(np.mean(ref.astype(np.float64) ** 2) / max(np.mean(err**2), 1e-30))
        shape_ok = out.shape == ref.shape == (feed[INPUT].shape[0], 1, feed[INPUT].shape[2] * loaded.spec.hop)
        ok = ok and shape_ok and bool(np.isfinite(out).all())
        all_ok &= ok
        outputs[label] = (ref, out)
        log(f"  {'PASS' if ok else 'FAIL'}  {label:<22} wav {list(out.shape)}  max {diff.max():.2e}  "
            f"mean {diff.mean():.2e}  snr {snr:.1f} dB")
    responds = input_response(outputs["speech"], outputs["silence"], tol, log)
    all_ok &= responds
    log(f"{'PASSED' if all_ok else 'FAILED'}: {path}" + (f" ({caveat})" if caveat and all_ok else ""))
    return all_ok


def input_response(speech: tuple[np.ndarray, np.ndarray], silence: tuple[np.ndarray, np.ndarray], tol: Tolerance,
                   log=print) -> bool:
    """Whether the graph's output depends on its input as the reference's does: when the PyTorch model's outputs
    for speech and silence differ by more than the tolerance (mean |delta|), the graph's must too, or a graph that
    ignored its input could pass. Warns when the reference itself hardly responds (degenerate weights, such as
    upstream's untrained init): then neither this nor the comparison can tell."""
    ref_response = float(np.mean(np.abs(speech[0].astype(np.float64) - silence[0])))
    onnx_response = float(np.mean(np.abs(speech[1].astype(np.float64) - silence[1])))
    ok = onnx_response > tol.atol or ref_response <= tol.atol
    log(f"  {'PASS' if ok else 'FAIL'}  {'responds to input':<22} mean |wav(speech) - wav(silence)|: onnx "
        f"{onnx_response:.2e}, pytorch {ref_response:.2e} (must exceed {tol.atol:g} where pytorch's does)")
    if ref_response <= 10 * tol.atol:
        log("note: with these weights even the PyTorch model hardly responds to its input, so this check cannot "
            "tell a graph that ignores its input from a right one")
    return ok


def cpu_half_caveat(precision: str) -> str | None:
    """What an fp16/bf16 verdict from ONNX-Runtime's CPU provider does not show (None at fp32)."""
    if precision == "fp32":
        return None
    return (f"ONNX-Runtime's CPU provider runs {precision} graphs largely in fp32 (it inserts casts where it lacks "
            f"half-precision kernels, on x86 nearly everywhere): this checks the graph, not {precision} arithmetic")


