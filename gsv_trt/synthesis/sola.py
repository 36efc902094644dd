"""SOLA crossfade of the batched path's audio fragments, device-resident (upstream's ``TTS.sola_algorithm``).

Upstream walks the seams one by one, printing each seam's shift (a device sync per seam). Here every seam's
normalised cross-correlation is computed on the device with upstream's own conv1d calls (so the same shifts come
out), the shifts come to the host in one transfer, and the output is cut and crossfaded on the device.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from ..errors import GsvTrtError
from .chunking import SOLA_SEARCH


def seam_shifts(fragments: torch.Tensor, overlap: int, search: int = SOLA_SEARCH) -> torch.Tensor:
    """fragments [n, L] -> each seam's shift [n - 1] (int64, on the fragments' device): where the head of fragment
    i+1 best matches the tail of fragment i, within ``search`` samples."""
    shifts = []
    for i in range(fragments.shape[0] - 1):
        w1 = fragments[i, -overlap:].float()
        w2 = fragments[i + 1, : overlap + search].float()
        corr = F.conv1d(w2.view(1, 1, -1), w1.view(1, 1, -1)).view(-1)
        energy = F.conv1d(w2.view(1, 1, -1) ** 2, torch.ones_like(w1).view(1, 1, -1)).view(-1) + 1e-8
        shifts.append((corr / energy.sqrt()).argmax())
    return torch.stack(shifts) if shifts else fragments.new_zeros(0, dtype=torch.long)


def sola_crossfade(fragments: torch.Tensor, overlap: int, search: int = SOLA_SEARCH) -> torch.Tensor:
    """fragments [n, L] (consecutive audio chunks whose ends overlap by ``overlap`` samples) -> audio [N].

    Fragment i keeps all but its last ``overlap`` samples; fragment i+1 starts ``shift`` samples in, its first
    ``overlap`` samples crossfaded (Hann halves) with the dropped tail of fragment i. One host transfer in all."""
    n, length = fragments.shape
    if n > 1 and length < 2 * overlap + search:
        raise GsvTrtError(f"SOLA: fragments of {length} samples are shorter than twice the overlap ({overlap}) plus "
                          f"the search ({search})")
    dtype = fragments.dtype
    fragments = fragments.float()
    shifts = seam_shifts(fragments, overlap, search).tolist()
    window = torch.hann_window(2 * overlap, device=fragments.device, dtype=fragments.dtype)
    pieces = [fragments[0, :-overlap] if n > 1 else fragments[0]]
    for i, shift in enumerate(shifts, start=1):
        head = window[:overlap] * fragments[i, shift : shift + overlap] + window[overlap:] * fragments[i - 1, -overlap:]
        end = length - overlap if i < n - 1 else length
        pieces += [head, fragments[i, shift + overlap : end]]
    return torch.cat(pieces).to(dtype)
