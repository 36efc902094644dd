"""``gsv-trt check`` for the CFM: Polygraphy runs both graphs of the pair with ONNX-Runtime and compares them with
our PyTorch fp32 DiT on the same inputs, at several T (short ones and upstream's chunk lengths 934 and 1000) and
B in {1, 3}.

Inputs are derived from real speech where it matters: the prompt and the target mel are the shipped LibriTTS clip's
mel as the CFM sees it (normalised, v3 24 kHz / v4 32 kHz domain), tiled to T; the noisy input is that mel mixed with
noise at flow times t across [0, 1); the SoVITS features ``mu`` (real ones need the SoVITS front end) are a fixed
random projection of the same mel, so they carry speech's time structure. The step graph gets the conditioning the
PyTorch conditioner computes, so each graph is compared on identical inputs. A last comparison feeds silence (zero
features, a silent prompt): the graph's velocity for speech and for silence must differ by more than the tolerance,
or a graph that ignored its conditioning would pass.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from polygraphy.backend.onnxrt import OnnxrtRunner, SessionFromOnnx
from polygraphy.comparator import Comparator
from polygraphy.comparator.compare import SimpleCompareFunc
from polygraphy.logger import G_LOGGER

from ...errors import GsvTrtError
from ...models.cfm.config import CFM_SHAPES, DiTConfig
from ...models.mel import normalise_mel, speech_mel
from ...models.vocoder import spec_for
from ..metadata import IO_NAMES
from ..torch_runner import TorchRunner, run_both
from ..vocoder.check import Tolerance, cpu_half_caveat
from .exporter import ConditionGraph, StepGraph
from .pair import read_pair

TOLERANCES = {
    "fp32": Tolerance("max", 1e-4, "same arithmetic; only summation order differs"),
    "fp16": Tolerance("mean", 2e-3, "the vocoder's fp16 bar, scaled by the output's size: fp16 keeps ~3 significant "
                                    "digits"),
    "bf16": Tolerance("mean", 1e-2, "bf16 keeps 8 mantissa bits, ~8x coarser than fp16"),
}
DEFAULT_BATCHES = (1, 3)
SHORT_FRAMES = (17, 250)
SILENT = -1.0  # a silent mel on the CFM's scale is about -0.93 (log 1e-5); -1 is its floor


def default_frames(version: str) -> tuple[int, ...]:
    """Short lengths, then upstream's chunk lengths 934 (v3) and 1000 (v4), the version's own last."""
    chunks = sorted({934, 1000}, key=lambda t: t == CFM_SHAPES[version][1])
    return (*SHORT_FRAMES, *chunks)


def speech_inputs(version: str, cfg: DiTConfig, batch: int, frames: int, speech: Path | None) -> dict[str, np.ndarray]:
    """mu, dt, x, prompt_x, t from real speech (see the module docstring); batch items start at other places."""
    mel = normalise_mel(torch.from_numpy(speech_mel(spec_for(version).mel, speech))).numpy()[0]  # [100, N]
    rng = np.random.default_rng(1000 * batch + frames)
    starts = rng.integers(0, mel.shape[1], batch)
    x1 = np.stack([np.resize(np.roll(mel, -s, axis=1), (100, frames)) for s in starts])  # tiled to T
    projection = np.random.default_rng(0).standard_normal((100, cfg.text_dim)) / 10.0
    mu = np.einsum("bmt,mc->btc", x1, projection)
    mu = (mu - mu.mean()) / (mu.std() + 1e-6)
    t = np.linspace(0.0, 0.875, batch) if batch > 1 else np.array([0.5])
    noise = rng.standard_normal(x1.shape)
    x = (1 - t[:, None, None]) * noise + t[:, None, None] * x1
    prompt_len = min(frames // 3, CFM_SHAPES[version][0])
    prompt_x = np.zeros_like(x1)
    prompt_x[..., :prompt_len] = x1[..., :prompt_len]
    x[..., :prompt_len] = 0
    f32 = lambda a: np.ascontiguousarray(a, dtype=np.float32)  # noqa: E731
    return {"mu": f32(mu), "dt": np.full(batch, 1 / 8, np.float32), "x": f32(x), "prompt_x": f32(prompt_x),
            "t": f32(t)}


def silent_inputs(like: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same shapes, times and noise with zero features and a silent prompt and target."""
    silent = dict(like, mu=np.zeros_like(like["mu"]))
    silent["prompt_x"] = np.where(like["prompt_x"] != 0, np.float32(SILENT), np.float32(0))
    return silent


def check_cfm(path: str | Path, loaded=None, frames: tuple[int, ...] | None = None,
              batches: tuple[int, ...] = DEFAULT_BATCHES, speech: Path | None = None, verbose: bool = False,
              log=print, **weights) -> bool:
    """Compare both graphs of the pair ``path`` belongs to with the fp32 PyTorch DiT; True when everything passes.

    ``loaded``: the LoadedCFM the graphs were exported from; else it is loaded from ``weights`` (``sovits_weights``,
    ``gpt_sovits_root``, ``lora_base``) or, by default, the weights recorded in the graphs."""
    from ...models.cfm.loader import load_cfm
    from .pair import config_from

    graphs = read_pair(path)
    meta = graphs.meta
    version, precision = meta["version"], meta["precision"]
    if loaded is None:
        source = weights.pop("sovits_weights", None) or meta["weights"]
        loaded = load_cfm(version, source, config=config_from(meta["cfm_config"]), **weights)
    if loaded.weights_sha256 != meta["weights_sha256"]:
        raise GsvTrtError(f"{graphs.step}: exported from weights {meta['weights_sha256'][:12]}, but the reference "
                          f"loaded {loaded.weights_sha256[:12]} ({loaded.weights})")
    G_LOGGER.module_severity = G_LOGGER.INFO if verbose else G_LOGGER.ERROR
    tol = TOLERANCES[precision]
    log(f"checking {graphs.condition.name} + {graphs.step.name} ({version} CFM, {precision}, fp32 islands: "
        f"{meta['fp32_islands'] or 'none'}) with {loaded.provenance}")
    scaled = "" if precision == "fp32" else " x max(1, mean |pytorch|)"
    log(f"tolerance: {tol.stat} |onnx - pytorch fp32| <= {tol.atol:g}{scaled} on every output  ({tol.why})")
    caveat = cpu_half_caveat(precision)
    if caveat:
        log(f"note: {caveat}")
    cfg = loaded.model.estimator.cfg
    runners = comparison_runners(graphs, loaded.model.estimator)
    all_ok, velocities = True, {}
    cases = [(f"speech B={b} T={t}", speech_inputs(version, cfg, b, t, speech)) for b in batches
             for t in frames or default_frames(version)]
    cases.append(("silence " + cases[0][0].split(" ", 1)[1], silent_inputs(cases[0][1])))
    for label, feed in cases:
        ok, outputs = compare_case(runners, feed, tol, precision, log, label)
        all_ok &= ok
        velocities[label] = outputs["v"]
    responds = response_check(velocities[cases[0][0]], velocities[cases[-1][0]], tol, log)
    all_ok &= responds
    log(f"{'PASSED' if all_ok else 'FAILED'}: {graphs.step}" + (f" ({caveat})" if caveat and all_ok else ""))
    return all_ok


def comparison_runners(graphs, dit) -> dict[str, tuple]:
    """(pytorch fp32 runner, onnxruntime runner, graph path) for both graphs."""
    def onnx(path: Path, name: str) -> OnnxrtRunner:
        return OnnxrtRunner(SessionFromOnnx(str(path), providers=["CPUExecutionProvider"]), name=name)

    cfg = dit.cfg
    dims = {"mu": ("batch", "frames", cfg.text_dim), "dt": ("batch",), "x": ("batch", cfg.mel_dim, "frames"),
            "prompt_x": ("batch", cfg.mel_dim, "frames"), "t": ("batch",), "text": ("batch", "frames", cfg.text_dim),
            "dt_emb": ("batch", cfg.dim)}
    runners = {}
    for component, path, graph in (("cfm-condition", graphs.condition, ConditionGraph(dit, torch.float32)),
                                   ("cfm-step", graphs.step, StepGraph(dit, torch.float32, False))):
        inputs, outputs = IO_NAMES[component]
        runners[component] = (TorchRunner(graph, inputs, outputs, input_dims={n: dims[n] for n in inputs},
                                          name=f"pytorch-fp32 {component}"), onnx(path, f"onnxruntime {component}"),
                             path)
    return runners


def compare_case(runners, feed: dict[str, np.ndarray], tol, precision: str, log, label: str
                 ) -> tuple[bool, dict[str, np.ndarray]]:
    """Run the conditioner pair, then the step pair on the PyTorch conditioning; log one line per output. Below
    fp32 the tolerance scales with each output's mean size (above 1): half-precision error is relative."""
    ok, outputs = True, {}
    for component in ("cfm-condition", "cfm-step"):
        torch_runner, onnx_runner, path = runners[component]
        inputs, names = IO_NAMES[component]
        step_feed = {n: feed.get(n, outputs.get(n)) for n in inputs}
        results = run_both([torch_runner, onnx_runner], step_feed, precision, str(path))
        refs, outs = results[torch_runner.name][0], results[onnx_runner.name][0]
        scale = {n: 1.0 if precision == "fp32" else max(1.0, float(np.abs(refs[n]).mean())) for n in names}
        compare = SimpleCompareFunc(atol={n: tol.atol * scale[n] for n in names}, rtol=0.0,
                                    check_error_stat=tol.stat)
        (accuracy,) = Comparator.compare_accuracy(results, compare_func=compare)  # one comparison function
        verdicts = accuracy[(torch_runner.name, onnx_runner.name)][0]  # per output, first (only) iteration
        for name in names:
            ref, out = refs[name], outs[name]
            outputs[name] = ref if component == "cfm-condition" else out
            diff = np.abs(out.astype(np.float64) - ref)
            good = bool(verdicts[name]) and out.shape == ref.shape and bool(np.isfinite(out).all())
            ok &= good
            log(f"  {'PASS' if good else 'FAIL'}  {label:<20} {name:<7} {str(list(out.shape)):<16} max {diff.max():.2e}"
                f"  mean {diff.mean():.2e}  (|ref| mean {np.abs(ref).mean():.2e})")
    return ok, outputs


def response_check(speech_v: np.ndarray, silent_v: np.ndarray, tol, log) -> bool:
    """The graph's velocity must depend on its conditioning: mean |v(speech) - v(silence)| above the tolerance."""
    response = float(np.mean(np.abs(speech_v.astype(np.float64) - silent_v)))
    ok = response > tol.atol
    log(f"  {'PASS' if ok else 'FAIL'}  responds to conditioning: mean |v(speech) - v(silence)| {response:.2e} "
        f"(must exceed {tol.atol:g})")
    return ok
