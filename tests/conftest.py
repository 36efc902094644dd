"""Shared fixtures: paths to the shipped golden files, the upstream reference when ../shared is beside the repo."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

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
