"""Is this upstream's ``TTS`` class the one the overlay knows? Refuse anything else rather than guess.

The overlay replaces two synthesis functions with the stage that reproduces them, mirrors ``audio_postprocess``
when it streams and relies on ``init_vocoder``'s rules (integration-notes.md §1), so those four must be exactly
the code of GPT-SoVITS 48b1a01: their token streams (comments and layout ignored) are fingerprinted. The methods
it only wraps must keep their signatures.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import textwrap
import tokenize
from collections.abc import Iterator

# GPT-SoVITS 48b1a01 (2026-08-18), GPT_SoVITS/TTS_infer_pack/TTS.py
FINGERPRINTS = {
    "using_vocoder_synthesis": "a91db99f248fd73b",
    "using_vocoder_synthesis_batched_infer": "62d01bb6f07684db",
    "audio_postprocess": "6a90dabd83fb77df",
    "init_vocoder": "1e082b9c0a873e9c",
}
SIGNATURES = {
    "init_vits_weights": ("self", "weights_path"),
    "init_vocoder": ("self", "version"),
    "enable_half_precision": ("self", "enable", "save"),
    "set_device": ("self", "device", "save"),
    "run": ("self", "inputs"),
    "using_vocoder_synthesis": ("self", "semantic_tokens", "phones", "speed", "sample_steps"),
    "using_vocoder_synthesis_batched_infer": ("self", "idx_list", "semantic_tokens_list", "batch_phones", "speed",
                                              "sample_steps"),
}
ATTRIBUTES = ("configs", "prompt_cache", "vocoder_configs", "precision", "vits_model", "vocoder")


def fingerprint(function) -> str:
    """SHA-256 (first 16 hex digits) of a function's tokens, without comments, blank lines or spacing."""
    source = textwrap.dedent(inspect.getsource(function))
    return hashlib.sha256("\x00".join(_tokens(source)).encode()).hexdigest()[:16]


def _tokens(source: str) -> Iterator[str]:
    """Token strings without comments or blank lines; an f-string is one token, its source text, on every Python
    (3.12 splits f-strings into parts, earlier versions give one STRING token)."""
    lines = source.splitlines(keepends=True)
    f_start, f_end = getattr(tokenize, "FSTRING_START", None), getattr(tokenize, "FSTRING_END", None)
    depth, begin = 0, (0, 0)
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == f_start:
            begin = tok.start if depth == 0 else begin
            depth += 1
        elif depth:
            if tok.type == f_end:
                depth -= 1
                if depth == 0:
                    yield _text(lines, begin, tok.end)
        elif tok.type not in (tokenize.COMMENT, tokenize.NL):
            yield tok.string


def _text(lines: list[str], start: tuple[int, int], end: tuple[int, int]) -> str:
    (r0, c0), (r1, c1) = start, end
    if r0 == r1:
        return lines[r0 - 1][c0:c1]
    return lines[r0 - 1][c0:] + "".join(lines[r0:r1 - 1]) + lines[r1 - 1][:c1]


def upstream_problem(tts: object) -> str | None:
    """Why the overlay cannot run on ``tts`` (one line), or None when its class is the known one."""
    cls = type(tts)
    for name in ATTRIBUTES:
        if not hasattr(tts, name):
            return f"{cls.__module__}.{cls.__name__} has no attribute {name!r} (not GPT-SoVITS's TTS class)"
    for name, wanted in SIGNATURES.items():
        method = getattr(cls, name, None)
        if method is None:
            return f"{cls.__name__}.{name} is missing (GPT-SoVITS differs from the known 48b1a01)"
        got = tuple(inspect.signature(method).parameters)
        if got != wanted:
            return f"{cls.__name__}.{name}{got} differs from the known {wanted} (GPT-SoVITS 48b1a01)"
    for name, known in FINGERPRINTS.items():
        try:
            got = fingerprint(getattr(cls, name))
        except (OSError, TypeError, tokenize.TokenError):
            return f"{cls.__name__}.{name}: source not readable, so it cannot be checked against GPT-SoVITS 48b1a01"
        if got != known:
            return (f"{cls.__name__}.{name} differs from GPT-SoVITS 48b1a01 (fingerprint {got}, known {known}); "
                    "this gsv-trt does not know that version")
    return None
