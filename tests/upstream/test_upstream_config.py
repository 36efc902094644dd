"""The ``gsv_trt:`` section through upstream's own ``TTS_Config``: its ``save_configs`` (what ``TTS`` runs at startup
and on every weight load) keeps the section unchanged, so nothing of it is lost beyond what upstream does to any
file; the same section under ``custom`` is dropped by that save, which is why the overlay (and the launcher, before
upstream's startup saves) refuses it up front."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gsv_trt.errors import GsvTrtError
from gsv_trt.gpt_sovits.config import SECTION, OverlayConfig, read_overlay_config

EVERY_KEY = {"use_tensorrt": True, "tensorrt_precision": "bf16", "tensorrt_workspace_size": "4GiB",
             "tensorrt_max_batch_size": 4, "runtime": "torch-fast", "engine_dir": "/data/gsv-engines",
             "parts": ["vocoder", "cfm"]}


def with_section(path: Path, where: str | None, section: dict) -> Path:
    """The workspace's config with ``section`` as a top-level ``gsv_trt:`` (``where`` None, written first, as a
    user might) or under ``where``."""
    document = yaml.safe_load(path.read_text())
    if where is None:
        document = {SECTION: section, **document}
    else:
        document[where][SECTION] = section
    path.write_text(yaml.dump(document, sort_keys=False))
    return path


def saved_by_upstream(upstream_tts, path: Path) -> dict:
    """``path`` after ``TTS_Config(path).save_configs()``, which writes back to the file it read, as TTS does."""
    upstream_tts.TTS_Config(str(path)).save_configs()
    return yaml.safe_load(path.read_text())


def test_the_section_survives_upstreams_rewrite_unchanged(upstream_tts, config_copy):
    ours = with_section(config_copy("v4", "with-section"), None, EVERY_KEY)
    plain = config_copy("v4", "without-section")
    expected = read_overlay_config(ours)
    assert expected == OverlayConfig(use_tensorrt=True, precision="bf16", workspace_bytes=4 * 2**30, max_batch=4,
                                     runtime="torch-fast", engine_dir=Path("/data/gsv-engines"),
                                     parts=("vocoder", "cfm"))

    saved = saved_by_upstream(upstream_tts, ours)
    assert saved[SECTION] == EVERY_KEY
    assert saved == {**saved_by_upstream(upstream_tts, plain), SECTION: EVERY_KEY}  # the rest as upstream saves it
    assert read_overlay_config(ours) == expected
    text = ours.read_text()
    assert saved_by_upstream(upstream_tts, ours) == saved and ours.read_text() == text  # a second save: no change


def test_a_section_under_custom_is_refused_because_upstream_drops_it(upstream_tts, config_copy):
    misplaced = with_section(config_copy("v4", "under-custom"), "custom", {"use_tensorrt": True})
    with pytest.raises(GsvTrtError, match=r"custom\.gsv_trt: move it to a top-level gsv_trt: section"):
        read_overlay_config(misplaced)
    saved = saved_by_upstream(upstream_tts, misplaced)
    assert SECTION not in saved["custom"] and SECTION not in saved  # gone without a word from upstream
    assert read_overlay_config(misplaced) == OverlayConfig()  # hence: read before upstream loads the file


def test_the_launcher_refuses_it_in_one_line_and_serves_stock(workspace, config_copy, capfd):
    from gsv_trt.gpt_sovits.server import api_v2_app

    misplaced = with_section(config_copy("v4", "launcher-refused"), "custom", {"use_tensorrt": True})
    with api_v2_app(workspace.root, misplaced) as launched:  # builds upstream's pipeline: ~20 s on a CPU
        pipeline = launched.module.tts_pipeline
        assert (type(pipeline.vits_model.cfm).__name__, type(pipeline.vocoder).__name__) == ("CFM", "Generator")
    refusal = f"{misplaced}: custom.gsv_trt: move it to a top-level gsv_trt: section"
    assert launched.overlay is None
    assert launched.what_runs.startswith(f"api_v2 (GPT-SoVITS v4): stock pipeline ({refusal}")
    said = [line for line in capfd.readouterr().err.splitlines() if line.startswith("gsv-trt:")]
    assert len(said) == 1 and refusal in said[0] and said[0].endswith("; the stock pipeline serves")
    assert SECTION not in yaml.safe_load(misplaced.read_text())["custom"]  # upstream's startup dropped it meanwhile
