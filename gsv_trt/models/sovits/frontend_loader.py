"""From a SoVITS file (or "random") to an fp32 ``SovitsFrontEnd``, loaded strictly.

Taken from the SoVITS state dict: every tensor under ``enc_p.``, ``ref_enc.``, ``quantizer.``, ``bridge.`` and
``wns1.`` (fp16 in the file -> fp32, then ``wns1``'s weight norm folded), each of which must match the front end by
name and shape, none missing. Ignored on purpose, because inference never runs them: ``cfm.*`` (the CFM loads it),
``ssl_proj`` (encodes HuBERT features into tokens; the stage receives tokens), ``linear_mel`` and ``enc_p.proj``
(training losses), the codebook's k-means/EMA buffers (``inited``, ``cluster_size``, ``embed_avg``), and anything
else outside those prefixes (e.g. a v2-era ``enc_q``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

import torch

from ...errors import GsvTrtError
from ..strict_load import load_strict
from ..uninitialised import uninitialised
from ..vocoder.checkpoint import fold_weight_norm
from .frontend import FEATURE_UPSAMPLE, FULL_FRONTEND, FrontEndConfig, SovitsFrontEnd
from .random_weights import seeded_state_dict
from .weights import SovitsWeights, load_sovits_weights

RANDOM = "random"
RANDOM_SEED = 0
FRONTEND_PREFIXES = ("enc_p.", "ref_enc.", "quantizer.", "bridge.", "wns1.")
TRAINING_ONLY = ("enc_p.proj.",)
TRAINING_ONLY_BUFFERS = ("._codebook.inited", "._codebook.cluster_size", "._codebook.embed_avg")


@dataclass
class LoadedFrontEnd:
    """A front end ready to run (fp32, eval, CPU) and where its weights came from."""

    model: SovitsFrontEnd
    version: str
    weights: str  # "random" or the SoVITS file the user named
    is_random: bool
    source: str = ""  # for files: which file(s), what kind, LoRA base

    @property
    def provenance(self) -> str:
        """The phrase every output carries to say which weights produced it."""
        if self.is_random:
            return (f"RANDOM weights (architecture-exact {self.version} SoVITS front end, seed {RANDOM_SEED}; "
                    "not a trained model)")
        return f"weights {self.source}"


def frontend_state(weights: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The front end's tensors of a SoVITS state dict: fp32, training-only ones dropped, weight norm folded."""
    taken = {k: v.float() for k, v in weights.items()
             if k.startswith(FRONTEND_PREFIXES) and not k.startswith(TRAINING_ONLY)
             and not k.endswith(TRAINING_ONLY_BUFFERS)}
    return fold_weight_norm(taken)


def build_frontend(version: str, weights: Mapping[str, torch.Tensor], source: str | Path,
                   config: FrontEndConfig = FULL_FRONTEND) -> SovitsFrontEnd:
    """A front end holding the matching tensors of ``weights`` (a whole SoVITS state dict); ``source`` names the
    file in errors. ``config`` other than the full size is for tests."""
    model = _untrained(version, config)
    state = {k: v.float() for k, v in frontend_state(weights).items()}
    load_strict(model, state, Path(source), f"the {version} SoVITS front end")
    return model.eval()


def frontend_from_sovits(sovits: SovitsWeights, config: FrontEndConfig = FULL_FRONTEND) -> LoadedFrontEnd:
    """The front end of already-read SoVITS weights (the synthesis stage reads the file once for CFM and front end)."""
    model = build_frontend(sovits.version, sovits.weights, sovits.file.path, config)
    return LoadedFrontEnd(model, sovits.version, str(sovits.file.path), False, sovits.source)


def load_frontend(version: str, sovits_weights: str | Path | None = RANDOM, gpt_sovits_root: str | Path | None = None,
                  lora_base: str | Path | None = None, config: FrontEndConfig = FULL_FRONTEND) -> LoadedFrontEnd:
    """The ``version`` front end from a SoVITS file (LoRA merged onto its base: a fine-tune's own front-end tensors
    replace the base's), from the pretrained file under ``gpt_sovits_root``, or with random weights ("random")."""
    if version not in FEATURE_UPSAMPLE:
        raise GsvTrtError(f"version {version!r}: the SoVITS front end is v3 or v4")
    path = None if sovits_weights in (None, RANDOM) else sovits_weights
    if path is None and gpt_sovits_root is None:
        if lora_base is not None:
            raise GsvTrtError(f"--lora-base {lora_base} needs a LoRA file as --sovits-weights")
        return random_frontend(version, config=config)
    return frontend_from_sovits(load_sovits_weights(version, path, gpt_sovits_root, lora_base), config)


def random_frontend(version: str, seed: int = RANDOM_SEED, config: FrontEndConfig = FULL_FRONTEND) -> LoadedFrontEnd:
    """Architecture-exact front end with ``seeded_state_dict`` weights: deterministic, output depends on input."""
    model = _untrained(version, config)
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    model.load_state_dict(seeded_state_dict(shapes, seed), strict=True)
    return LoadedFrontEnd(model.eval(), version, RANDOM, True)


def _untrained(version: str, config: FrontEndConfig) -> SovitsFrontEnd:
    """Allocated, not initialised: every tensor is loaded next (strictly)."""
    return uninitialised(lambda: SovitsFrontEnd(version, config))
