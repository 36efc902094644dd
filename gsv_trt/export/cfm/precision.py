"""Reduced-precision CFM graphs, strongly typed, with fp32 islands where DiTs are known to overflow or lose accuracy
in half precision (CosyVoice's DiT fp16 TensorRT engines produce NaN without them).

The model is cast in PyTorch before export so every tensor in the ONNX graph has the type it is computed in, except
the islands, which stay fp32 (their weights too) and hand their results back in the model's precision:

- ``norm``: every LayerNorm (mean and variance over 1024 channels overflow fp16 for large activations)
- ``adaln``: the AdaLN-zero modulation (its LayerNorm and ``norm(x) * (1 + scale) + shift``) of every block and of
  the output norm; the projection of the time embedding to shift/scale/gate stays in the model's precision (a
  matrix-vector product per batch item, but 138 M of the 337 M weights: fp32 would add 0.28 GB to the engine)
- ``rope``: the RoPE angles (position x frequency reaches ~1000 rad; fp16 resolves 0.5 rad there, bf16 4 rad) and
  the rotation of q and k
- ``softmax``: the attention softmax (scores computed in the model's precision, from q pre-scaled by 1/sqrt(d))
- ``grn``: the ConvNeXt's Global Response Normalisation (an L2 norm over all frames) in the conditioner
- ``mish``: the Mish activations of the convolutional position embedding; bf16 only by default, because
  TensorRT-RTX (1.7) has no bf16 Mish and refuses to build it

The time embeddings' sinusoids are computed in fp32 by the model itself. The FFN's modulation in each block stays in
the model's precision. The graphs' inputs and outputs are fp32 so callers never cast.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

from ...errors import GsvTrtError
from ...models.cfm.adaln import AdaLayerNormZero, AdaLayerNormZeroFinal
from ...models.cfm.rope import RotaryEmbedding
from ...models.cfm.text_embedding import GRN

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
ISLANDS = ("norm", "adaln", "rope", "softmax", "grn", "mish")
# bf16 has fp32's range but even fewer mantissa bits than fp16, so it keeps the same islands (and Mish, see above)
DEFAULT_ISLANDS = {"fp32": (), "fp16": ISLANDS[:5], "bf16": ISLANDS}
ADALN = (AdaLayerNormZero, AdaLayerNormZeroFinal)
ISLAND_MODULES: dict[str, tuple[type[nn.Module], ...]] = {
    "norm": (nn.LayerNorm,), "adaln": ADALN, "rope": (RotaryEmbedding,), "grn": (GRN,), "mish": (nn.Mish,),
}


def parse_islands(text: str, precision: str) -> tuple[str, ...]:
    """``norm,rope`` -> ("norm", "rope"); ``none`` or "" -> (); ``all`` -> every island; ``default`` -> the
    precision's default set. In ISLANDS order."""
    names = {n.strip() for n in text.split(",") if n.strip()} - {"none"}
    if "all" in names:
        return ISLANDS
    if "default" in names:
        names = (names - {"default"}) | set(DEFAULT_ISLANDS[precision])
    unknown = sorted(names - set(ISLANDS))
    if unknown:
        raise GsvTrtError(f"fp32 islands {', '.join(unknown)}: unknown; choose from {', '.join(ISLANDS)} "
                          "(or all, default, none)")
    return tuple(n for n in ISLANDS if n in names)


class Fp32Island(nn.Module):
    """Run ``inner`` in fp32; with ``cast_back``, hand floating outputs back in the dtype of the first input."""

    def __init__(self, inner: nn.Module, cast_back: bool = True):
        super().__init__()
        self.inner = inner
        self.cast_back = cast_back

    def forward(self, *args: Any) -> Any:
        dtypes = [a.dtype for a in args if isinstance(a, torch.Tensor)]
        out = self.inner(*(a.float() if isinstance(a, torch.Tensor) and a.is_floating_point() else a for a in args))
        if not (self.cast_back and dtypes):
            return out
        back = lambda y: y.to(dtypes[0]) if isinstance(y, torch.Tensor) and y.is_floating_point() else y  # noqa: E731
        return tuple(back(y) for y in out) if isinstance(out, tuple) else back(out)


class InPrecision(nn.Module):
    """Inside an island: run ``inner`` (already cast to ``dtype``) in ``dtype`` and hand the result back in fp32."""

    def __init__(self, inner: nn.Module, dtype: torch.dtype):
        super().__init__()
        self.inner = inner
        self.dtype = dtype

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x.to(self.dtype)).float()


class Fp32Softmax(TorchFunctionMode):
    """Inside this mode, half-precision ``scaled_dot_product_attention`` (the DiT's call: no mask, no dropout)
    computes its softmax in fp32; the two matmuls stay in the input's precision."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is F.scaled_dot_product_attention and args[0].dtype != torch.float32:
            return attention_fp32_softmax(*args, **kwargs)
        return func(*args, **kwargs)


def attention_fp32_softmax(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    scores = torch.matmul(q * q.shape[-1] ** -0.5, k.transpose(-2, -1))
    return torch.matmul(torch.softmax(scores.float(), dim=-1).to(v.dtype), v)


def cast_except(model: nn.Module, dtype: torch.dtype, keep: tuple[type[nn.Module], ...]) -> None:
    """Cast the floating parameters and buffers of ``model`` to ``dtype``, except inside modules of ``keep``."""
    def visit(module: nn.Module) -> None:
        if isinstance(module, keep):
            return
        for name, tensor in [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]:
            if tensor.is_floating_point():
                cast = tensor.to(dtype)
                if isinstance(tensor, nn.Parameter):
                    module._parameters[name] = nn.Parameter(cast, requires_grad=False)
                else:
                    module._buffers[name] = cast
        for child in module.children():
            visit(child)

    visit(model)


def with_precision(dit: nn.Module, precision: str, islands: tuple[str, ...]) -> tuple[nn.Module, torch.dtype]:
    """A copy of ``dit`` computing in ``precision`` with the named ``islands`` in fp32 (``dit`` itself at fp32)."""
    if precision not in DTYPES:
        raise GsvTrtError(f"precision {precision!r}: expected one of {', '.join(DTYPES)}")
    dtype = DTYPES[precision]
    if precision == "fp32":
        return dit.eval(), dtype
    dit = copy.deepcopy(dit).eval()
    kinds = tuple(t for island in islands for t in ISLAND_MODULES.get(island, ()))
    cast_except(dit, dtype, kinds)
    for parent in list(dit.modules()):
        for name, child in list(parent.named_children()):
            if kinds and isinstance(child, kinds):
                # the RoPE angles stay fp32: the rotation then promotes to fp32 and casts back (apply_rope)
                setattr(parent, name, Fp32Island(child, cast_back=not isinstance(child, RotaryEmbedding)))
            if isinstance(child, ADALN) and "adaln" in islands:
                child.linear = InPrecision(child.linear.to(dtype), dtype)
    return dit, dtype
