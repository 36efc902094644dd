"""The CFM's two TensorRT engines (conditioner and step, built by ``gsv-trt engine --stage cfm``) as a
CFMEstimator.

Before TensorRT sees a plan: both sidecars are read (each checked against its plan file), the two must be the
halves of one model (same version, DiT config, weights, precision; each naming the other), the weights must be the
ones the caller asks for, and the GPU and TensorRT version must be the ones the engines were built for. Each refusal
is one line. Each optimization profile ("sequential": batch 1; "batched": batch 2..max) has its own execution
context. numpy float32 in and out goes through pinned buffers; torch CUDA tensors are read and written in place on
torch's current stream. Importing this module does not import torch or TensorRT.

Not run anywhere yet: no machine here has a GPU this engine runs on with a matching TensorRT (TensorRT-RTX does not
run on Hopper; full TensorRT is not installed). Its refusals are tested on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ...build.sidecar import read_sidecar
from ...errors import GsvTrtError
from ...export.artifacts import describe_weights
from ...export.cfm.pair import config_from
from ...export.metadata import IO_NAMES
from ..base import RuntimeInfo
from ..tensorrt import EngineFile
from .estimator_io import Array, check_condition, check_step, is_torch

CONDITION, STEP = "cfm-condition", "cfm-step"


def plan_pair(plan: str | Path, partner: str | Path | None = None) -> dict[str, tuple[Path, dict]]:
    """{component: (plan, sidecar)} for the pair ``plan`` belongs to (the partner named by its sidecar unless
    given), checked to be the two halves of one model."""
    plan = Path(plan)
    sidecar = read_sidecar(plan)
    model = sidecar["model"]
    if model.get("component") not in (CONDITION, STEP):
        raise GsvTrtError(f"{plan}: a {model.get('component', 'vocoder')} engine, not one of the CFM's")
    partner = Path(partner) if partner else plan.with_name(Path(model["pair"]).with_suffix(".plan").name)
    if not partner.exists():
        raise GsvTrtError(f"{plan}: its partner engine {partner} is missing (build both with gsv-trt engine --stage "
                          "cfm)")
    other = read_sidecar(partner)
    halves = {model["component"]: (plan, sidecar), other["model"].get("component"): (partner, other)}
    if set(halves) != {CONDITION, STEP}:
        raise GsvTrtError(f"{partner}: not the partner of {plan} (a {other['model'].get('component', 'vocoder')} "
                          "engine)")
    differ = [k for k in ("version", "config", "weights_sha256") if model[k] != other["model"].get(k)]
    differ += ["precision"] * (sidecar["precision"] != other["precision"])
    if differ:
        raise GsvTrtError(f"{partner}: built with another {', '.join(differ)} than {plan}; rebuild the pair")
    return halves


class TensorRTCFM:
    """The CFM engine pair ``plan`` (either file; ``partner`` names the other when it is not where the sidecar
    says) on GPU ``device``. ``weights_sha256``: refuse engines of other weights."""

    def __init__(self, plan: str | Path, partner: str | Path | None = None, device: int = 0,
                 weights_sha256: str | None = None):
        halves = plan_pair(plan, partner)
        step_plan, sidecar = halves[STEP]
        model = sidecar["model"]
        held = describe_weights(sidecar["sources"]["weights"], model["weights_sha256"])
        if weights_sha256 is not None and model["weights_sha256"] != weights_sha256:
            raise GsvTrtError(f"{step_plan}: built from {held}, not the weights asked for (sha256 "
                              f"{weights_sha256[:12]}); build engines for them with gsv-trt engine --stage cfm")
        self.config, self.version = config_from(model["config"]), model["version"]
        self.weights_sha256 = model["weights_sha256"]
        self._files = {}
        try:
            for component in (CONDITION, STEP):
                path, car = halves[component]
                self._files[component] = EngineFile(path, IO_NAMES[component], device, car)
        except BaseException:
            self.close()
            raise
        step = self._files[STEP]
        self.device = device
        self.info = RuntimeInfo(step.runtime_name, sidecar["precision"], step.gpu.name,
                                f"{step_plan.name}, {step.flavour.label}, {self.version} CFM, {held}")

    def condition(self, mu: Array, dt: Array) -> tuple[Array, Array]:
        batch, frames = check_condition(mu, dt, self.config)
        shapes = {"text": (batch, frames, self.config.text_dim), "dt_emb": (batch, self.config.dim)}
        out = self._run(CONDITION, {"mu": mu, "dt": dt}, shapes, batch, frames)
        return out["text"], out["dt_emb"]

    def step(self, x: Array, prompt_x: Array, t: Array, text: Array, dt_emb: Array) -> Array:
        batch, frames = check_step(x, prompt_x, t, text, dt_emb, self.config)
        feeds = {"x": x, "prompt_x": prompt_x, "t": t, "text": text, "dt_emb": dt_emb}
        return self._run(STEP, feeds, {"v": (batch, self.config.mel_dim, frames)}, batch, frames)["v"]

    def _run(self, component: str, inputs: dict[str, Array], output_shapes: dict[str, tuple[int, ...]], batch: int,
             frames: int) -> dict[str, Array]:
        """numpy in, numpy out; torch in, torch out (CUDA tensors stay on the GPU, CPU tensors go through numpy)."""
        file = self._files[component]
        first = next(iter(inputs))
        slot = file.slot(batch, frames, first)
        sample = inputs[first]
        if not is_torch(sample):
            with file.lock:
                return slot.run_numpy({n: np.ascontiguousarray(a) for n, a in inputs.items()}, output_shapes)
        import torch

        if not sample.is_cuda:
            out = self._run(component, {n: a.detach().numpy() for n, a in inputs.items()}, output_shapes, batch,
                            frames)
            return {n: torch.from_numpy(a) for n, a in out.items()}
        for name, tensor in inputs.items():
            file.check_device(tensor, name)
        tensors = {n: a.detach().contiguous() for n, a in inputs.items()}
        outputs = {n: torch.empty(s, dtype=torch.float32, device=sample.device) for n, s in output_shapes.items()}
        with file.lock:
            slot.run({n: (tuple(a.shape), a.data_ptr()) for n, a in tensors.items()},
                     {n: (tuple(a.shape), a.data_ptr()) for n, a in outputs.items()},
                     torch.cuda.current_stream(sample.device).cuda_stream)
        return outputs

    def close(self) -> None:
        """Free buffers, contexts and streams now rather than at garbage collection."""
        for file in getattr(self, "_files", {}).values():
            file.close()
        self._files = {}

    def __enter__(self) -> "TensorRTCFM":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
