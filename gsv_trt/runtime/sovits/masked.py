"""The SoVITS front end over inputs padded to a bucket length, with masks that make every valid frame come out as
the unpadded model's (models/sovits/frontend.py) computes it. Lengths arrive as a tensor, so one CUDA graph per
bucket serves every length in it (torch_fast.py); on the CPU the same functions run without graphs.

Why each op is exact under padding (padding at the end; ``*_mask`` is 1 on valid frames):
- per-frame ops (codebook lookup, the x2 nearest repeat, 1x1 convs, LayerNorm over channels, ``bridge``, Mish,
  Linear, adding ``ge``) never mix frames: valid frames are untouched by what the padded ones hold;
- "same"-padded convs (the encoders' FFN, kernel 3; ``ref_enc``'s gated convs and ``wns1``'s, kernel 5) see their
  input multiplied by the mask, so a valid frame near the end reads zeros past it, as the unpadded conv reads its
  zero padding;
- attention (relative-position self-attention, MRTE's cross-attention over the phones, ``ref_enc``'s) gets logit
  -inf on padded keys: their softmax weight is exactly 0, so neither ``p @ v`` nor the relative value term
  (weights by offset, zero past the end either way) sees them; relative logits depend on offsets only;
- the nearest upsampling to feature frames (x1.875 v3, x2 v4) with a given scale factor picks source frame
  ``floor(j / scale)`` for output j whatever the length, so the first ``feature_frames(T)`` outputs are the same;
- ``wns1`` already masks to upstream's valid length before every conv; the padded frames are masked the same way;
- ``ref_enc``'s mean over frames divides by the true length and sums masked frames (zeros add nothing).
Only the summation order of softmax and the mean can differ (last-bit rounding). Not exact, so not here: the
speed resampling (linear interpolation to ``int(T / speed) + 1`` frames mixes neighbours at a length-dependent
ratio); the fast front end runs speed != 1 eager.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from ...models.sovits.attentions import FFN, Encoder, MultiHeadAttention
from ...models.sovits.frontend import FEATURE_UPSAMPLE, SovitsFrontEnd
from ...models.sovits.style_encoder import MelStyleEncoder, StyleSelfAttention
from ...models.sovits.wn import WNEncoder


def length_mask(frames: int, length: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """[1, 1, frames]: 1 before ``length`` (a 0-d or 1-element tensor), 0 after."""
    return (torch.arange(frames, device=length.device) < length.reshape(1, 1, 1)).to(dtype)


def _key_bias(mask: torch.Tensor) -> torch.Tensor:
    """[1, 1, T] mask -> [1, 1, 1, T] logit bias: 0 on valid keys, -inf on padded ones."""
    return torch.zeros_like(mask).masked_fill(mask == 0, float("-inf"))[:, :, None, :]


@dataclass
class Positions:
    """Relative-position gathers of a self-attention over ``length`` frames with window ``w``."""

    index: torch.Tensor  # [T, T]: embedding row of key j for query i, j - i + w clamped
    near: torch.Tensor  # [T, T]: |j - i| <= w
    by_offset: torch.Tensor  # [T, 2w+1]: column k is key i + k - w in the w-padded row

    @classmethod
    def make(cls, length: int, window: int, device: torch.device) -> "Positions":
        pos = torch.arange(length, device=device)
        offset = pos[None, :] - pos[:, None]
        by_offset = pos[:, None] + torch.arange(2 * window + 1, device=device)
        return cls((offset + window).clamp(0, 2 * window), offset.abs() <= window, by_offset)


def _heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    b, c, t = x.shape
    return x.view(b, heads, c // heads, t).transpose(2, 3)


def attention(attn: MultiHeadAttention, x: torch.Tensor, context: torch.Tensor, key_bias: torch.Tensor,
              positions: Positions | None) -> torch.Tensor:
    """``attn`` over padded ``context``; ``positions`` for relative (self-)attention."""
    q = _heads(attn.conv_q(x), attn.n_heads) / math.sqrt(attn.k_channels)
    k = _heads(attn.conv_k(context), attn.n_heads)
    v = _heads(attn.conv_v(context), attn.n_heads)
    scores = torch.matmul(q, k.transpose(-2, -1))
    if positions is not None:
        rel = torch.matmul(q, attn.emb_rel_k.transpose(-2, -1).unsqueeze(0))
        rel = torch.gather(rel, 3, positions.index.expand(*rel.shape[:2], -1, -1))
        scores = scores + torch.where(positions.near, rel, torch.zeros((), dtype=scores.dtype, device=x.device))
    p_attn = F.softmax(scores + key_bias, dim=-1)
    out = torch.matmul(p_attn, v)
    if positions is not None:
        w = attn.window_size
        by_offset = torch.gather(F.pad(p_attn, (w, w)), 3, positions.by_offset.expand(*p_attn.shape[:2], -1, -1))
        out = out + torch.matmul(by_offset, attn.emb_rel_v.unsqueeze(0))
    b, h, t, d = out.shape
    return attn.conv_o(out.transpose(2, 3).reshape(b, h * d, t))


def ffn(layer: FFN, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    x = torch.relu(layer.conv_1(F.pad(x * mask, layer.pad)))
    return layer.conv_2(F.pad(x * mask, layer.pad))


def encoder(enc: Encoder, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The post-norm stack over [B, C, T_padded]; padded frames come out zero."""
    positions = Positions.make(x.shape[2], enc.attn_layers[0].window_size, x.device)
    key_bias = _key_bias(mask)
    for attn, norm_1, layer, norm_2 in zip(enc.attn_layers, enc.norm_layers_1, enc.ffn_layers, enc.norm_layers_2):
        x = norm_1(x + attention(attn, x, x, key_bias, positions))
        x = norm_2(x + ffn(layer, x, mask))
    return x * mask


def wn_encoder(wns1: WNEncoder, x: torch.Tensor, mask: torch.Tensor, ge: torch.Tensor) -> torch.Tensor:
    x = wns1.pre(x) * mask
    return wns1.proj(wns1.enc(x, mask, ge)) * mask


def content(model: SovitsFrontEnd, codes: torch.Tensor, phones: torch.Tensor, lengths: torch.Tensor,
            ge: torch.Tensor) -> torch.Tensor:
    """codes [n_q, 1, T_pad], phones [1, P_pad], lengths [3] = (tokens, phones, valid feature frames), ge
    [1, gin, 1] -> fea [1, 512, floor(2 T_pad x upsample)]; its first ``feature_frames(tokens)`` frames are
    ``decode_encp``'s at speed 1, later ones zero."""
    enc = model.enc_p
    ssl = F.interpolate(model.quantizer.decode(codes), scale_factor=2, mode="nearest")
    ssl_mask = length_mask(ssl.shape[2], 2 * lengths[0], ssl.dtype)
    y = encoder(enc.encoder_ssl, enc.ssl_proj(ssl), ssl_mask)
    text_mask = length_mask(phones.shape[1], lengths[1], ssl.dtype)
    text = encoder(enc.encoder_text, enc.text_embedding(phones).transpose(1, 2), text_mask)
    mrte = enc.mrte
    y = mrte.c_pre(y)
    y = mrte.c_post(attention(mrte.cross_attention, y, mrte.text_pre(text), _key_bias(text_mask), None) + y + ge)
    y = encoder(enc.encoder2, y, ssl_mask)
    fea = F.interpolate(model.bridge(y), scale_factor=FEATURE_UPSAMPLE[model.version], mode="nearest")
    return wn_encoder(model.wns1, fea, length_mask(fea.shape[2], lengths[2], fea.dtype), ge)


def _style_attention(attn: StyleSelfAttention, x: torch.Tensor, key_bias: torch.Tensor) -> torch.Tensor:
    b, t, c = x.shape

    def heads(y: torch.Tensor) -> torch.Tensor:
        return y.view(b, t, attn.n_heads, c // attn.n_heads).transpose(1, 2)

    q, k, v = heads(attn.w_qs(x)), heads(attn.w_ks(x)), heads(attn.w_vs(x))
    p_attn = F.softmax(torch.matmul(q, k.transpose(-2, -1)) / attn.temperature + key_bias, dim=-1)
    return attn.fc(torch.matmul(p_attn, v).transpose(1, 2).reshape(b, t, c)) + x


def style(ref_enc: MelStyleEncoder, spec: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """spec [1, 704, S_pad] (the style bins), length [1] -> ge [1, 512, 1], as ``ref_enc`` on the first
    ``length`` frames."""
    mask = length_mask(spec.shape[2], length, spec.dtype)
    x = ref_enc.spectral(spec.transpose(1, 2)).transpose(1, 2)
    for glu in ref_enc.temporal:
        a, b = glu.conv1(x * mask).chunk(2, dim=1)
        x = x + a * torch.sigmoid(b)
    x = ref_enc.fc(_style_attention(ref_enc.slf_attn, x.transpose(1, 2), _key_bias(mask)))
    x = x / length.to(x.dtype).reshape(1, 1, 1) * mask.transpose(1, 2)
    return x.sum(dim=1).unsqueeze(-1)
