"""ONNX-Runtime on an exported CFM graph pair: a CFMEstimator that runs anywhere (CPU, or CUDA with
onnxruntime-gpu), and the runtime ``gsv-trt check`` compares with PyTorch.

numpy float32 in, numpy out; torch tensors in, torch tensors out (through host memory, on their device).
"""

from __future__ import annotations

from pathlib import Path

from ...errors import GsvTrtError
from ...export.artifacts import describe_weights
from ...export.cfm.pair import read_pair
from ..base import RuntimeInfo
from .estimator_io import Array, check_condition, check_step, like, to_numpy


class OnnxRuntimeCFM:
    """The pair of graphs ``path`` (either one) belongs to. ``weights_sha256``: refuse graphs of other weights."""

    def __init__(self, path: str | Path, providers: list[str] | None = None, weights_sha256: str | None = None):
        import onnxruntime as ort

        graphs = read_pair(path)
        meta = graphs.meta
        held = describe_weights(meta["weights"], meta["weights_sha256"])
        if weights_sha256 is not None and meta["weights_sha256"] != weights_sha256:
            raise GsvTrtError(f"{graphs.step}: exported from {held}, not the weights asked for (sha256 "
                              f"{weights_sha256[:12]}); export them again")
        self.graphs, self.config, self.version = graphs, graphs.config, meta["version"]
        self.weights_sha256 = meta["weights_sha256"]
        available = ort.get_available_providers()
        wanted = providers or [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]
        self._condition = ort.InferenceSession(str(graphs.condition), providers=wanted)
        self._step = ort.InferenceSession(str(graphs.step), providers=wanted)
        provider = self._step.get_providers()[0]
        device = "cuda" if provider == "CUDAExecutionProvider" else "cpu"
        self.info = RuntimeInfo("onnxruntime", meta["precision"], device, f"{provider}, {graphs.step.name}, {held}")

    def condition(self, mu: Array, dt: Array) -> tuple[Array, Array]:
        check_condition(mu, dt, self.config)
        text, dt_emb = self._condition.run(["text", "dt_emb"], {"mu": to_numpy(mu), "dt": to_numpy(dt)})
        return like(text, mu), like(dt_emb, mu)

    def step(self, x: Array, prompt_x: Array, t: Array, text: Array, dt_emb: Array) -> Array:
        check_step(x, prompt_x, t, text, dt_emb, self.config)
        feeds = {"x": x, "prompt_x": prompt_x, "t": t, "text": text, "dt_emb": dt_emb}
        (v,) = self._step.run(["v"], {name: to_numpy(a) for name, a in feeds.items()})
        return like(v, x)
