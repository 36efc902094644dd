"""Hyper-parameters of the CFM's DiT estimator and the per-version facts the synthesis stage runs it with."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class DiTConfig:
    """Constructor arguments of upstream's DiT as SynthesizerTrnV3 builds it (v3 and v4 share them)."""

    dim: int = 1024
    depth: int = 22
    heads: int = 16
    dim_head: int = 64  # also the RoPE width: only the first dim_head channels of q/k are rotated
    ff_mult: int = 2
    mel_dim: int = 100
    text_dim: int = 512
    conv_layers: int = 4  # ConvNeXt-V2 blocks in the text embedding
    max_pos: int = 4096  # frames in the text embedding's position table (~44 s); longer inputs are refused

    def to_dict(self) -> dict:
        return asdict(self)


FULL_DIT = DiTConfig()

# (T_ref, T_chunk) of TTS.init_vocoder: at most T_ref prompt frames, T_chunk frames per CFM call
CFM_SHAPES: dict[str, tuple[int, int]] = {"v3": (468, 934), "v4": (500, 1000)}

# step counts the shortcut objective trained the step-size embedding for (d = 1/2^k); others run with a warning
TRAINED_STEPS: tuple[int, ...] = (4, 8, 16, 32, 64)
