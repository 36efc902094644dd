"""The prompt every CFM call of a request continues: the reference's style vector, features and mel.

Upstream's ``using_vocoder_synthesis`` recomputes this for every segment; it depends only on the reference clip and
the prompt's tokens and phones, so the stage computes it once per request (same numbers).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..models.sovits.frontend import SovitsFrontEnd
from ..models.sovits.reference_audio import PreparedReference, align_prompt

if TYPE_CHECKING:  # either front end: the plain model or its torch-fast runner
    from ..runtime.sovits.torch_fast import TorchFastFrontEnd


@dataclass
class Prompt:
    """fea [1, 512, T_min] and mel [1, 100, T_min] (CFM scale), cut to at most T_ref frames; ge [1, 512, 1]."""

    fea: torch.Tensor
    mel: torch.Tensor
    ge: torch.Tensor

    @property
    def frames(self) -> int:
        return self.mel.shape[2]


def prepare_prompt(frontend: SovitsFrontEnd | TorchFastFrontEnd, reference: PreparedReference, codes: torch.Tensor,
                   phones: torch.Tensor, t_ref: int) -> Prompt:
    """codes [T] prompt semantic tokens, phones [T_ph] prompt phone ids (1-D, on the front end's device)."""
    device = next(frontend.parameters()).device
    fea, ge = frontend.decode_encp(codes.view(1, 1, -1).to(device), phones.view(1, -1).to(device),
                                   reference.refer_spec.to(device))
    fea, mel = align_prompt(fea, reference.mel.to(device), t_ref)
    return Prompt(fea, mel, ge)
