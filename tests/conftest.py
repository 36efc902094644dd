"""Shared fixtures: paths to the shipped golden files, the upstream reference when ../shared is beside the repo."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

FIXTURES = Path(__file__).parent / "fixtures"
SHARED_REFERENCE = Path(__file__).resolve().parents[2] / "shared" / "reference"


@pytest.fixture(scope="session")
def fixtures() -> Path:
    return FIXTURES


@pytest.fixture(scope="session")
def upstream():
    """The upstream reference modules (../shared/reference); skipped visibly where that folder is absent."""
    if not (SHARED_REFERENCE / "gpt_sovits").is_dir():
        pytest.skip(f"upstream reference not found at {SHARED_REFERENCE}")
    sys.path.insert(0, str(SHARED_REFERENCE))
    from gpt_sovits.bigvgan.bigvgan import BigVGAN
    from gpt_sovits.bigvgan.env import AttrDict
    from gpt_sovits.v4_vocoder import Generator

    return {"BigVGAN": BigVGAN, "AttrDict": AttrDict, "Generator": Generator}


@pytest.fixture(scope="session")
def v4_stage_blocks():
    """Factory: the three ResBlock1 of a v4 stage (kernels 3, 7, 11; dilations 1, 3, 5) at ``channels`` wide, with
    weights scaled so that 18 chained convs keep the signal's size."""
    from gsv_trt.models.vocoder.generator import ResBlock1

    def make(channels: int, seed: int = 0) -> list[ResBlock1]:
        torch.manual_seed(seed)
        blocks = [ResBlock1(channels, k, (1, 3, 5)) for k in (3, 7, 11)]
        for block in blocks:
            for p in block.parameters():
                p.data.normal_(0, 0.5 / channels**0.5)
        return blocks

    return make
