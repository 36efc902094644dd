"""torch-fast SoVITS front end: ``decode_encp`` as one CUDA graph replay per call instead of ~800 eager launches.

Token and phone counts vary per request, so graphs are captured per length bucket (buckets.py), not per exact
length: inputs are padded to the bucket and masked (masked.py says why that is exact) and the output is cut back.
One graph per (token bucket, phone bucket) for the features and one per spectrogram bucket for the style vector
``ge`` (a prompt call replays both, a segment call, given ``ge``, only the first). A bucket is captured on first use;
an LRU keeps the newest ``max_graphs``. Eager fallbacks, same numbers as the plain model: speed != 1 (the linear
speed resampling is not exact under padding), batch > 1, and inputs beyond the largest bucket. fp32 tensors
throughout, as the eager front end (the CFM takes its output). ``tf32`` picks the arithmetic: off, true fp32
(exact against the plain model); on, convs and matmuls round their inputs to TF32's 10-bit mantissa, as fp16 does
(upstream's ``is_half`` runs this whole front end in fp16), and run on tensor cores: the true-fp32 convs took
~5.7 ms of each decode_encp on an H200 (tools/profile_stage.py). Without CUDA graphs (CPU, or ``graphs=False``)
the same padded computation runs eagerly. Thread-safe: calls share the static buffers, so they run one at a time.
Streams: each CUDA stream gets graphs and static buffers of its own, so calls on two streams (the stage's prompt and
first segment) may run at once on the device; host-to-device copies do not block, so launching one call does not
wait for the other.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
from torch import nn

from ...errors import GsvTrtError
from ...models.sovits.frontend import SovitsFrontEnd, feature_frames, valid_feature_frames
from ...models.sovits.validate import check_speed
from ..base import RuntimeInfo
from . import masked
from .buckets import PHONE_LADDER, SPEC_LADDER, TOKEN_LADDER, bucket


@contextmanager
def _arithmetic(tf32: bool) -> Iterator[None]:
    """Convs and matmuls with or without TF32, whatever the process has set (captured kernels keep the choice)."""
    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = matmul.allow_tf32
    matmul.allow_tf32 = tf32
    try:
        with cudnn.flags(enabled=cudnn.enabled, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic,
                         allow_tf32=tf32):
            yield
    finally:
        matmul.allow_tf32 = saved


class _Captured:
    """Static inputs, a body computing the output from them, and (on CUDA) the graph that replays the body."""

    def __init__(self, static: dict[str, torch.Tensor], forward: Callable[[], torch.Tensor], tf32: bool):
        self.static, self.forward, self.tf32 = static, forward, tf32
        self.graph: torch.cuda.CUDAGraph | None = None
        self.out: torch.Tensor | None = None

    def body(self) -> torch.Tensor:
        with _arithmetic(self.tf32):
            return self.forward()

    def capture(self, device: torch.device) -> None:
        side = torch.cuda.Stream(device)
        side.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(side):
            self.body()  # warm-up: cuBLAS handles and workspaces outside the capture
        torch.cuda.current_stream(device).wait_stream(side)
        self.graph = torch.cuda.CUDAGraph()
        # thread_local: another thread's sync (say a CFM call of a concurrent request) must not break the capture
        with torch.cuda.graph(self.graph, capture_error_mode="thread_local"):
            self.out = self.body()

    def run(self) -> torch.Tensor:
        if self.graph is None:
            self.out = self.body()
        else:
            self.graph.replay()
        return self.out


class TorchFastFrontEnd(nn.Module):
    """A ``SovitsFrontEnd`` with the interface the synthesis stage uses (``decode_encp``, ``ref_style``,
    ``check_ids``, ``version``, ``cfg``), answering from captured graphs. ``graphs``: None = on CUDA only;
    ``tf32``: TF32 convs and matmuls (module docstring)."""

    def __init__(self, model: SovitsFrontEnd, provenance: str = "", graphs: bool | None = None,
                 max_graphs: int = 32, token_ladder=TOKEN_LADDER, phone_ladder=PHONE_LADDER,
                 spec_ladder=SPEC_LADDER, tf32: bool = False):
        super().__init__()
        self.model = model.eval()
        self.version, self.cfg, self.provenance = model.version, model.cfg, provenance
        self.graphs, self.max_graphs, self.tf32 = graphs, max_graphs, tf32
        self.ladders = {"tokens": tuple(token_ladder), "phones": tuple(phone_ladder), "spec": tuple(spec_ladder)}
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple, _Captured] = OrderedDict()
        self.capture_seconds: dict[tuple, float] = {}  # the latest capture of each bucket (on any stream)
        self.eager_calls = 0  # calls that fell back to the plain model
        self.log: Callable[[str], None] = lambda message: print(message, file=sys.stderr)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def _graphed(self, device: torch.device) -> bool:
        return self.graphs if self.graphs is not None else device.type == "cuda"

    @property
    def info(self) -> RuntimeInfo:
        device = self.device
        name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        how = "CUDA graph per length bucket" if self._graphed(device) else "padded to length buckets, no graphs"
        detail = f"{how}; {self.provenance}" if self.provenance else how
        return RuntimeInfo("torch-fast", "tf32" if self.tf32 else "fp32", name, detail)

    def _apply(self, fn, *args, **kwargs):
        """Moving the weights (``.to()``) invalidates captured graphs: drop them."""
        self.entries.clear()
        return super()._apply(fn, *args, **kwargs)

    def check_ids(self, codes: torch.Tensor, phones: torch.Tensor) -> None:
        self.model.check_ids(codes, phones)

    @torch.inference_mode()
    def ref_style(self, refer_spec: torch.Tensor) -> torch.Tensor:
        """As ``SovitsFrontEnd.ref_style`` (a fresh tensor)."""
        with self.lock:
            return self._style(refer_spec).clone()

    @torch.inference_mode()
    def decode_encp(self, codes: torch.Tensor, phones: torch.Tensor, refer_spec: torch.Tensor | None,
                    ge: torch.Tensor | None = None, speed: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
        """As ``SovitsFrontEnd.decode_encp``; fresh output tensors (not the graphs' buffers)."""
        self.check_ids(codes, phones)
        check_speed(speed)
        tokens = bucket(codes.shape[2], self.ladders["tokens"])
        phone_slots = bucket(phones.shape[1], self.ladders["phones"])
        if speed != 1 or codes.shape[1] != 1 or tokens is None or phone_slots is None:
            self.eager_calls += 1
            with _arithmetic(self.tf32):  # as the graphs: one answer whichever path an input takes
                return self.model.decode_encp(codes, phones, refer_spec, ge, speed)
        if ge is None and refer_spec is None:
            raise GsvTrtError("refer_spec: needed when no style vector ge is given")
        with self.lock:
            given = ge is not None
            ge = ge if given else self._style(refer_spec)
            fea = self._features(codes, phones, ge, tokens, phone_slots)
            return fea, (ge if given else ge.clone())

    # -- entries ---------------------------------------------------------------------------------------------------
    def _host_values(self, values: list[int]) -> torch.Tensor:
        """Lengths for a static buffer, pinned on a GPU so that copying them does not block the host."""
        return torch.tensor(values, pin_memory=self.device.type == "cuda")

    def _entry(self, bucket_key: tuple, make: Callable[[], _Captured]) -> _Captured:
        device = self.device
        key = bucket_key
        if device.type == "cuda":  # static buffers are the stream's own: calls on two streams may overlap
            key = (*bucket_key, torch.cuda.current_stream(device).cuda_stream)
        if key in self.entries:
            self.entries.move_to_end(key)
            return self.entries[key]
        start = time.perf_counter()
        entry = make()
        if self._graphed(device):
            try:
                entry.capture(device)
                torch.cuda.synchronize(device)
            except RuntimeError as error:  # never a failed request for a graph: the same padded code, eagerly
                self.graphs, entry.graph = False, None
                self.log(f"torch-fast front end: CUDA graph capture failed ({str(error).splitlines()[0][:160]}); "
                         "running its padded computation without graphs from now on")
        self.capture_seconds[bucket_key] = time.perf_counter() - start
        self.entries[key] = entry
        while len(self.entries) > self.max_graphs:
            self.entries.popitem(last=False)
        return entry

    def _features(self, codes: torch.Tensor, phones: torch.Tensor, ge: torch.Tensor, tokens: int,
                  phone_slots: int) -> torch.Tensor:
        def make() -> _Captured:
            dev = self.device
            static = {"codes": torch.zeros(codes.shape[0], 1, tokens, dtype=torch.long, device=dev),
                      "phones": torch.zeros(1, phone_slots, dtype=torch.long, device=dev),
                      "lengths": torch.ones(3, dtype=torch.long, device=dev),
                      "ge": torch.zeros(1, self.cfg.gin_channels, 1, device=dev)}
            return _Captured(static, lambda: masked.content(self.model, static["codes"], static["phones"],
                                                            static["lengths"], static["ge"]), self.tf32)

        entry = self._entry(("features", tokens, phone_slots), make)
        n, p = codes.shape[2], phones.shape[1]
        s = entry.static
        s["codes"][:, :, :n].copy_(codes)  # the padding keeps earlier ids: masked, it changes no valid frame
        s["phones"][:, :p].copy_(phones)
        s["lengths"].copy_(self._host_values([n, p, valid_feature_frames(n, self.version)]), non_blocking=True)
        s["ge"].copy_(ge)
        return entry.run()[:, :, : feature_frames(n, self.version)].clone()

    def _style(self, refer_spec: torch.Tensor) -> torch.Tensor:
        """ge from the static buffer of the spectrogram's bucket (valid until the next call), or eager."""
        shape = list(refer_spec.shape)
        if refer_spec.dim() != 3 or shape[1] != self.cfg.spec_bins or shape[2] < 1:
            raise GsvTrtError(f"refer_spec: expected shape [B, {self.cfg.spec_bins}, T >= 1], got {shape}")
        frames = bucket(shape[2], self.ladders["spec"])
        if frames is None or shape[0] != 1:
            self.eager_calls += 1
            with _arithmetic(self.tf32):
                return self.model.ref_style(refer_spec)

        def make() -> _Captured:
            dev = self.device
            static = {"spec": torch.zeros(1, self.cfg.style_bins, frames, device=dev),
                      "length": torch.ones(1, dtype=torch.long, device=dev)}
            return _Captured(static, lambda: masked.style(self.model.ref_enc, static["spec"], static["length"]),
                             self.tf32)

        entry = self._entry(("style", frames), make)
        entry.static["spec"][:, :, : shape[2]].copy_(refer_spec[:, : self.cfg.style_bins])
        entry.static["length"].copy_(self._host_values([shape[2]]), non_blocking=True)
        return entry.run()
