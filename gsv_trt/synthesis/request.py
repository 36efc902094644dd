"""A synthesis request file (REQ.json): what upstream's synthesis functions receive after the text front end and the
text-to-semantic model.

    {"ref_audio": "ref.wav", "prompt_semantic": [int...], "prompt_phones": [int...],
     "segments": [{"semantic": [int...], "phones": [int...]}, ...], "speed": 1.0}

``ref_audio`` is relative to the request file's folder unless absolute; ``speed`` is optional (1.0). Every field is
checked before any model loads; an error names the file and the field (e.g. ``segments[1].phones[4]``).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import GsvTrtError
from ..models.sovits.frontend import FULL_FRONTEND
from .stage import Segment


@dataclass
class Request:
    ref_audio: Path
    prompt_codes: torch.Tensor  # [T] int64
    prompt_phones: torch.Tensor  # [T_ph] int64
    segments: list[Segment]
    speed: float


def read_request(path: str | Path, codebook: int = FULL_FRONTEND.codebook_bins,
                 symbols: int = FULL_FRONTEND.n_symbols) -> Request:
    """Parse and check ``path``; token ids must be below ``codebook``, phone ids below ``symbols``."""
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise GsvTrtError(f"{path}: no such request file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise GsvTrtError(f"{path}: cannot read the request file ({e})") from None
    except json.JSONDecodeError as e:
        raise GsvTrtError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(raw, dict):
        raise GsvTrtError(f"{path}: expected a JSON object with ref_audio, prompt_semantic, prompt_phones, segments")

    def field(name: str):
        if name not in raw:
            raise GsvTrtError(f"{path}: missing field {name!r}")
        return raw[name]

    def ids(value, name: str, upper: int, table: str) -> torch.Tensor:
        if not isinstance(value, list) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise GsvTrtError(f"{path}: {name}: expected a list of integers")
        if not value:
            raise GsvTrtError(f"{path}: {name}: empty")
        for i, v in enumerate(value):
            if not 0 <= v < upper:
                raise GsvTrtError(f"{path}: {name}[{i}]: {v} is outside the {table} (0..{upper - 1})")
        return torch.tensor(value, dtype=torch.long)

    ref = field("ref_audio")
    if not isinstance(ref, str) or not ref:
        raise GsvTrtError(f"{path}: ref_audio: expected a file name")
    codes_table, phones_table = f"codebook of {codebook} tokens", f"symbol table of {symbols} phones"
    prompt_codes = ids(field("prompt_semantic"), "prompt_semantic", codebook, codes_table)
    prompt_phones = ids(field("prompt_phones"), "prompt_phones", symbols, phones_table)
    raw_segments = field("segments")
    if not isinstance(raw_segments, list) or not raw_segments:
        raise GsvTrtError(f"{path}: segments: expected a non-empty list of {{semantic, phones}} objects")
    segments = []
    for i, seg in enumerate(raw_segments):
        name = f"segments[{i}]"
        if not isinstance(seg, dict) or "semantic" not in seg or "phones" not in seg:
            raise GsvTrtError(f"{path}: {name}: expected an object with 'semantic' and 'phones'")
        segments.append(Segment(ids(seg["semantic"], f"{name}.semantic", codebook, codes_table),
                                ids(seg["phones"], f"{name}.phones", symbols, phones_table)))
    speed = raw.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not math.isfinite(speed) or speed <= 0:
        raise GsvTrtError(f"{path}: speed: expected a number > 0, got {speed!r}")
    ref_path = Path(ref) if Path(ref).is_absolute() else path.parent / ref
    return Request(ref_path, prompt_codes, prompt_phones, segments, float(speed))
