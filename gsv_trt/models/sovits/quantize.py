"""Semantic token decoding: the residual vector quantizer's codebook lookup (``quantizer`` of a SoVITS model).

v3/v4 use one quantizer of 1024 codes x 768 dimensions. Only the ``embed`` codebook is used at inference; the
k-means/EMA training buffers (``inited``, ``cluster_size``, ``embed_avg``) are ignored when loading. The nesting
(``quantizer.vq.layers.0._codebook.embed``) mirrors upstream so checkpoint names load unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Codebook(nn.Module):
    """One codebook: ``embed`` [bins, dim]."""

    def __init__(self, bins: int, dim: int):
        super().__init__()
        self.register_buffer("embed", torch.zeros(bins, dim))


class CodebookLayer(nn.Module):
    """One quantizer stage (upstream's ``VectorQuantization``; no projection, codebook dim = feature dim)."""

    def __init__(self, bins: int, dim: int):
        super().__init__()
        self._codebook = Codebook(bins, dim)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        """[B, T] ids -> [B, dim, T]."""
        return F.embedding(codes, self._codebook.embed).transpose(1, 2)


class ResidualCodebooks(nn.Module):
    def __init__(self, n_q: int, bins: int, dim: int):
        super().__init__()
        self.layers = nn.ModuleList(CodebookLayer(bins, dim) for _ in range(n_q))


class ResidualQuantizer(nn.Module):
    """codes [n_q, B, T] -> features [B, dim, T]: the sum of each stage's codebook vectors."""

    def __init__(self, dim: int = 768, n_q: int = 1, bins: int = 1024):
        super().__init__()
        self.bins = bins
        self.vq = ResidualCodebooks(n_q, bins, dim)

    def decode(self, codes: torch.Tensor) -> torch.Tensor:
        out = self.vq.layers[0].decode(codes[0])
        for layer, stage_codes in zip(self.vq.layers[1:], codes[1:]):
            out = out + layer.decode(stage_codes)
        return out
