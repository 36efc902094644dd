"""Upstream's pretrained SoVITS files: where a GPT-SoVITS checkout keeps them and how upstream recognises them.

The MD5 digests are upstream's ``hash_pretrained_dict`` (process_ckpt.py): the MD5 of a file's first 8 KiB, which
is how upstream tells its pretrained files apart (a full v4 file carries no version marker).
"""

from __future__ import annotations

from pathlib import Path

from ...errors import GsvTrtError

# TTS_Config defaults (tts_infer.yaml): GPT_SoVITS/pretrained_models/<file>
PRETRAINED_FILES: dict[str, str] = {"v3": "s2Gv3.pth", "v4": "gsv-v4-pretrained/s2Gv4.pth"}

# MD5 of the first 8 KiB -> (version, upstream's file name)
PRETRAINED_MD5: dict[str, tuple[str, str]] = {
    "dc3c97e17592963677a4a1681f30c653": ("v1", "s2G488k.pth"),
    "6642b37f3dbb1f76882b69937c95a5f3": ("v2", "gsv-v2final-pretrained/s2G2333k.pth"),
    "43797be674a37c1c83ee81081941ed0f": ("v3", "s2Gv3.pth"),
    "4f26b9476d0c5033e04162c486074374": ("v4", "gsv-v4-pretrained/s2Gv4.pth"),
    "c7e9fce2223f3db685cdfa1e6368728a": ("v2Pro", "v2Pro/s2Gv2Pro.pth"),
    "66b313e39455b57ab1b0bc0b239c9d0a": ("v2ProPlus", "v2Pro/s2Gv2ProPlus.pth"),
}
HASHED_BYTES = 8192


def find_pretrained(version: str, root: str | Path) -> Path:
    """The pretrained ``version`` SoVITS file inside a GPT-SoVITS checkout (``GPT_SoVITS/pretrained_models/...``)."""
    rel = PRETRAINED_FILES[version]
    root = Path(root)
    if not root.is_dir():
        raise GsvTrtError(f"{root}: not a directory (--gpt-sovits-root takes a GPT-SoVITS checkout)")
    for candidate in (root / "GPT_SoVITS" / "pretrained_models" / rel, root / "pretrained_models" / rel, root / rel):
        if candidate.is_file():
            return candidate
    raise GsvTrtError(f"{root}: no {version} SoVITS file at GPT_SoVITS/pretrained_models/{rel}")
