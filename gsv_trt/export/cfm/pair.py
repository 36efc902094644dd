"""The CFM's two graphs belong together: each names its partner (metadata ``pair``, a file in the same folder), and
both must hold the same model (version, DiT config, weights, precision). Given either file, ``read_pair`` finds and
checks the other, so every tool takes one path."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ...errors import GsvTrtError
from ...models.cfm.config import DiTConfig
from ..metadata import CFM_COMPONENTS, read_metadata

SHARED = ("version", "cfm_config", "weights_sha256", "precision", "gsv_trt_version")


@dataclass(frozen=True)
class CfmGraphs:
    condition: Path
    step: Path
    meta: dict[str, str]  # the step graph's metadata

    @property
    def config(self) -> DiTConfig:
        return config_from(self.meta["cfm_config"])


def config_from(text: str | dict) -> DiTConfig:
    """The DiTConfig of a graph's ``cfm_config`` metadata (JSON) or an engine sidecar's ``config``."""
    return DiTConfig(**(json.loads(text) if isinstance(text, str) else text))


def partner_problem(path: Path, meta: dict, partner: Path, partner_meta: dict) -> str | None:
    """Why ``partner`` is not the other half of ``path`` (same model, complementary component, naming it back)."""
    if {meta["component"], partner_meta["component"]} != set(CFM_COMPONENTS):
        return f"{partner} is a {partner_meta['component']} graph, not the partner of a {meta['component']} graph"
    differ = [k for k in SHARED if meta[k] != partner_meta[k]]
    if differ:
        return f"{partner} was exported with another {', '.join(differ)}; export the pair again"
    if partner_meta["pair"] != path.name:
        return f"{partner} pairs with {partner_meta['pair']}, not {path.name}"
    return None


def read_pair(path: str | Path) -> CfmGraphs:
    """The (condition, step) graphs of the pair ``path`` belongs to, checked to hold the same model."""
    path = Path(path)
    meta = read_metadata(path, CFM_COMPONENTS)
    partner = path.with_name(meta["pair"])
    if not partner.exists():
        raise GsvTrtError(f"{path}: its partner graph {partner} is missing (export both with gsv-trt export "
                          "--stage cfm)")
    partner_meta = read_metadata(partner, CFM_COMPONENTS)
    problem = partner_problem(path, meta, partner, partner_meta)
    if problem:
        raise GsvTrtError(f"{path}: {problem}")
    if meta["component"] == "cfm-step":
        return CfmGraphs(partner, path, meta)
    return CfmGraphs(path, partner, partner_meta)
