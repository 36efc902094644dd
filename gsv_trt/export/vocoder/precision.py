"""Reduced-precision graphs with explicit types (TensorRT 11 and TensorRT-RTX build strongly typed only).

The model is cast to fp16/bf16 in PyTorch before export, so every tensor in the ONNX graph has the type it will be
computed in. Precision-sensitive ops can stay fp32 ("islands"): SnakeBeta (``sin`` of large arguments loses
accuracy in half precision) and the output conv. At bf16 the transposed convolutions stay fp32 too: TensorRT-RTX
(1.7) has no bf16 deconvolution and refuses to build them. The graph's input and output stay fp32 so callers never
cast.
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from ...errors import GsvTrtError
from ...models.vocoder.activation import SnakeBeta
from ...models.vocoder.resample import UpSample1d

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
# what stays fp32, per version and precision
ISLANDS = {
    ("v3", "fp16"): ("snake", "output"), ("v4", "fp16"): ("output",),
    ("v3", "bf16"): ("snake", "upsample", "output"), ("v4", "bf16"): ("upsample", "output"),
}
ISLAND_MODULES = {"snake": (SnakeBeta,), "upsample": (torch.nn.ConvTranspose1d, UpSample1d)}


class Fp32Island(nn.Module):
    """Run ``inner`` in fp32; hand back the caller's dtype, or keep fp32 when it feeds the fp32 graph output."""

    def __init__(self, inner: nn.Module, cast_back: bool):
        super().__init__()
        self.inner = inner.float()
        self.cast_back = cast_back

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.inner(x.float())
        return y.to(x.dtype) if self.cast_back else y


class Fp32Io(nn.Module):
    """fp32 in, compute in ``dtype``, fp32 out; the graph boundary callers see."""

    def __init__(self, model: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.model = model
        self.dtype = dtype

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return self.model(mel.to(self.dtype)).float()


def islands_for(version: str, precision: str, keep_fp32: bool) -> tuple[str, ...]:
    """The fp32 islands that apply: none at fp32 or when disabled."""
    if precision == "fp32" or not keep_fp32:
        return ()
    return ISLANDS[(version, precision)]


def with_precision(model: nn.Module, version: str, precision: str, keep_fp32: bool = True) -> tuple[nn.Module, tuple[str, ...]]:
    """A copy of ``model`` computing in ``precision`` with fp32 I/O, and the islands kept in fp32."""
    if precision not in DTYPES:
        raise GsvTrtError(f"precision {precision!r}: expected one of {', '.join(DTYPES)}")
    dtype = DTYPES[precision]
    model = copy.deepcopy(model).eval()
    islands = islands_for(version, precision, keep_fp32)
    if precision == "fp32":
        return Fp32Io(model, dtype).eval(), islands
    model = model.to(dtype)
    kinds = tuple(t for island in islands for t in ISLAND_MODULES.get(island, ()))
    if kinds:
        for parent in list(model.modules()):
            for name, child in list(parent.named_children()):
                if isinstance(child, kinds):
                    setattr(parent, name, Fp32Island(child, cast_back=True))
    if "output" in islands:
        model.conv_post = Fp32Island(model.conv_post, cast_back=False)
    return Fp32Io(model, dtype).eval(), islands
