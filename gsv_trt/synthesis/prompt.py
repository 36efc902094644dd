"""The prompt every CFM call of a request continues: the reference's style vector, features and mel.

Upstream's ``using_vocoder_synthesis`` recomputes this for every segment; it depends only on the reference clip and
the prompt's tokens and phones, so the stage computes it once per request (same numbers).

On a GPU the stage prepares it on a stream of its own, so that the prompt's features and the first segment's (both
launch-bound SoVITS decodes) run at once: the prompt carries the events that say when its style vector and the rest
are written, and whoever reads them first waits for those events on its own stream.
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
    """fea [1, 512, T_min] and mel [1, 100, T_min] (CFM scale), cut to at most T_ref frames; ge [1, 512, 1].
    ``style_done`` / ``done``: CUDA events recorded after ge / everything was computed (None on a CPU)."""

    fea: torch.Tensor
    mel: torch.Tensor
    ge: torch.Tensor
    style_done: torch.cuda.Event | None = None
    done: torch.cuda.Event | None = None

    @property
    def frames(self) -> int:
        return self.mel.shape[2]

    def wait_style(self) -> None:
        """Make the current stream wait until ``ge`` is written (no host sync)."""
        _wait(self.style_done, self.ge.device)

    def wait(self) -> None:
        """Make the current stream wait until the whole prompt is written (no host sync)."""
        _wait(self.done, self.ge.device)


def _wait(event: torch.cuda.Event | None, device: torch.device) -> None:
    if event is not None:
        torch.cuda.current_stream(device).wait_event(event)


def _recorded(device: torch.device) -> torch.cuda.Event | None:
    if device.type != "cuda":
        return None
    event = torch.cuda.Event()
    event.record(torch.cuda.current_stream(device))
    return event


def prepare_prompt(frontend: SovitsFrontEnd | TorchFastFrontEnd, reference: PreparedReference, codes: torch.Tensor,
                   phones: torch.Tensor, t_ref: int) -> Prompt:
    """codes [T] prompt semantic tokens, phones [T_ph] prompt phone ids (1-D, on the host or the front end's device).
    Everything is copied to the device before the first kernel: a blocking host-to-device copy afterwards would wait
    for the decode and keep the next one from starting beside it."""
    device = next(frontend.parameters()).device
    spec, mel = reference.refer_spec.to(device), reference.mel.to(device)
    codes, phones = codes.view(1, 1, -1).to(device), phones.view(1, -1).to(device)
    ge = frontend.ref_style(spec)  # what decode_encp(codes, phones, spec) computes first
    style_done = _recorded(device)
    fea, _ = frontend.decode_encp(codes, phones, None, ge)
    fea, mel = align_prompt(fea, mel, t_ref)
    return Prompt(fea, mel, ge, style_done, _recorded(device))
