"""What an exported graph is, stored inside it (ONNX metadata_props), so later stages need no side channel."""

from __future__ import annotations

from pathlib import Path

import onnx

from ..errors import GsvTrtError

PREFIX = "gsv_trt."
FIELDS = ("gsv_trt_version", "vocoder", "precision", "fp32_islands", "weights", "weights_sha256", "hop",
          "sample_rate", "opset")


def write_metadata(model: onnx.ModelProto, values: dict[str, object]) -> None:
    del model.metadata_props[:]
    for key in FIELDS:
        entry = model.metadata_props.add()
        entry.key, entry.value = PREFIX + key, str(values[key])


def read_metadata(path: str | Path) -> dict[str, str]:
    """The fields written at export; a graph not made by ``gsv-trt export`` is refused by name."""
    path = Path(path)
    if not path.exists():
        raise GsvTrtError(f"{path}: no such file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError, RuntimeError, ... for garbage
        raise GsvTrtError(f"{path}: not a readable ONNX model ({type(e).__name__})") from None
    values = {p.key[len(PREFIX):]: p.value for p in model.metadata_props if p.key.startswith(PREFIX)}
    missing = [k for k in FIELDS if k not in values]
    if missing:
        raise GsvTrtError(f"{path}: not exported by gsv-trt (metadata lacks {', '.join(missing)})")
    return values
