"""What an exported graph is, stored inside it (ONNX metadata_props), so later stages need no side channel.

Every graph names its ``component``: ``vocoder``, or one of the CFM's two graphs, ``cfm-condition`` (run once per
call) and ``cfm-step`` (one Euler step). Each component has its own extra fields. Graphs exported before components
existed carry no ``component`` field and are vocoders. Readers say which components they take (by default the
vocoder), so a CFM graph handed to a vocoder tool is refused in one line.
"""

from __future__ import annotations

import json
from pathlib import Path

import onnx

from ..errors import GsvTrtError

PREFIX = "gsv_trt."
COMMON = ("gsv_trt_version", "component", "precision", "fp32_islands", "weights", "weights_sha256", "opset")
COMPONENT_FIELDS = {
    "vocoder": ("vocoder", "hop", "sample_rate"),
    "cfm-condition": ("version", "cfm_config", "pair"),
    "cfm-step": ("version", "cfm_config", "pair"),
}
FIELDS = (*COMMON, *COMPONENT_FIELDS["vocoder"])  # a vocoder graph's fields
CFM_COMPONENTS = ("cfm-condition", "cfm-step")
ANY = tuple(COMPONENT_FIELDS)
# each component's graph inputs and outputs, in order (all float32)
IO_NAMES = {
    "vocoder": (("mel",), ("wav",)),
    "cfm-condition": (("mu", "dt"), ("text", "dt_emb")),
    "cfm-step": (("x", "prompt_x", "t", "text", "dt_emb"), ("v",)),
}


def write_metadata(model: onnx.ModelProto, values: dict[str, object]) -> None:
    """Replace ``model``'s metadata with ``values`` (``component`` defaults to ``vocoder``)."""
    values = {"component": "vocoder", **values}
    component = str(values["component"])
    if component not in COMPONENT_FIELDS:
        raise ValueError(f"unknown component {component!r}")
    del model.metadata_props[:]
    for key in (*COMMON, *COMPONENT_FIELDS[component]):
        entry = model.metadata_props.add()
        value = values[key]
        text = json.dumps(value, sort_keys=True) if isinstance(value, dict) else str(value)
        entry.key, entry.value = PREFIX + key, text


def read_metadata(path: str | Path, components: tuple[str, ...] = ("vocoder",)) -> dict[str, str]:
    """The fields written at export; a graph not made by ``gsv-trt export``, or of another component than
    ``components`` (``ANY``: all), is refused by name."""
    path = Path(path)
    if not path.exists():
        raise GsvTrtError(f"{path}: no such file")
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError, RuntimeError, ... for garbage
        raise GsvTrtError(f"{path}: not a readable ONNX model ({type(e).__name__})") from None
    values = {p.key[len(PREFIX):]: p.value for p in model.metadata_props if p.key.startswith(PREFIX)}
    values.setdefault("component", "vocoder")
    fields = COMMON + COMPONENT_FIELDS.get(values["component"], ())
    missing = [k for k in fields if k not in values]
    if missing or values["component"] not in COMPONENT_FIELDS:
        what = f"lacks {', '.join(missing)}" if missing else f"has unknown component {values['component']!r}"
        raise GsvTrtError(f"{path}: not exported by gsv-trt (metadata {what})")
    if values["component"] not in components:
        raise GsvTrtError(f"{path}: a {values['component']} graph; this takes {' or '.join(components)} graphs")
    return values


def input_dims(path: str | Path) -> dict[str, tuple[str | int, ...]]:
    """Each graph input's dims: "batch", "frames" (the exporter's names for the dynamic axes) or a fixed size."""
    model = onnx.load(str(path), load_external_data=False)
    return {i.name: tuple(d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim) for i in model.graph.input}


def model_version(meta: dict[str, str]) -> str:
    """"v3" or "v4", whichever component the metadata describes."""
    return meta["vocoder"] if meta["component"] == "vocoder" else meta["version"]
