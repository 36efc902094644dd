"""SoVITS files in every layout GPT-SoVITS writes are read; every other file gets one line saying what it is."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import pytest
import torch

from gsv_trt.errors import GsvTrtError
from gsv_trt.models.sovits import read_sovits
from sovits_files import s2_config, small_cfm, sovits_weights, write_sovits


@pytest.fixture(scope="module")
def weights() -> dict[str, torch.Tensor]:
    return sovits_weights(small_cfm(seed=0))


def refused(path: Path, *needles: str) -> str:
    with pytest.raises(GsvTrtError) as info:
        read_sovits(path)
    message = str(info.value)
    assert len(message.splitlines()) == 1 and str(path) in message, message
    for needle in needles:
        assert needle in message, message
    return message


def test_full_file_as_upstream_writes_it(tmp_path, weights):
    sovits = read_sovits(write_sovits(tmp_path / "s2Gv3.pth", weights, s2_config("v3")))
    assert (sovits.version, sovits.is_lora, sovits.lora_rank, sovits.head) == ("v3", False, None, b"PK")
    assert sovits.version_source == "config model.version"
    assert sovits.info == "8epoch_800iteration" and sovits.config == s2_config("v3")
    assert set(sovits.weights) == set(weights)
    assert all(v.dtype == torch.float16 for v in sovits.weights.values())
    assert torch.equal(sovits.weights["linear_mel.weight"], weights["linear_mel.weight"].half())


def test_hparams_config_reads_without_upstream_utils(tmp_path, weights):
    path = write_sovits(tmp_path / "trained.pth", weights, s2_config("v4"), hparams=True)
    assert b"utils" in path.read_bytes()[:8192] and "utils" not in sys.modules
    sovits = read_sovits(path)
    assert sovits.config == s2_config("v4") and isinstance(sovits.config["model"], dict)
    assert sovits.version == "v4"


@pytest.mark.parametrize("head, version, is_lora", [(b"02", "v3", False), (b"03", "v3", True), (b"04", "v4", True)])
def test_version_markers(tmp_path, weights, head, version, is_lora):
    config = s2_config("v2")  # the marker decides, as in upstream
    path = write_sovits(tmp_path / "m.pth", weights, config, head=head, lora_rank=8 if is_lora else None)
    sovits = read_sovits(path)
    assert (sovits.version, sovits.is_lora, sovits.head) == (version, is_lora, head)
    assert sovits.version_source == f"version marker {head.decode()}"
    assert sovits.lora_rank == (8 if is_lora else None)


def test_version_not_recorded(tmp_path, weights):
    config = s2_config("v4")
    del config["model"]["version"]
    sovits = read_sovits(write_sovits(tmp_path / "full.pth", weights, config))
    assert sovits.version is None and sovits.version_source == "not recorded in the file"


def test_random_bytes_are_not_a_checkpoint(tmp_path):
    path = tmp_path / "noise.pth"
    path.write_bytes(os.urandom(4096).replace(b"PK", b"pk").replace(b"\x80", b"\x81"))
    message = refused(path, "not a PyTorch checkpoint")
    assert "weights_only" not in message


@pytest.mark.parametrize("head", [b"PK", b"04"])
def test_truncated_file(tmp_path, weights, head):
    path = write_sovits(tmp_path / "cut.pth", weights, s2_config("v4"), head=head, lora_rank=4 if head != b"PK" else None)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) * 2 // 3])
    refused(path, "truncated or corrupt")


def test_missing_empty_and_directory(tmp_path):
    refused(tmp_path / "nope.pth", "no such file")
    (tmp_path / "empty.pth").write_bytes(b"")
    refused(tmp_path / "empty.pth", "empty file")
    refused(tmp_path, "is a directory")


@pytest.mark.parametrize("rows, version", [(322, "v1"), (732, "v1/v2")])
def test_v1_v2_files_have_no_cfm(tmp_path, rows, version):
    weights = {"enc_p.text_embedding.weight": torch.zeros(rows, 4), "dec.conv_pre.weight": torch.zeros(4, 4, 7)}
    path = write_sovits(tmp_path / "s2G488k.pth", weights, s2_config("v2"))
    refused(path, f"this is a {version} SoVITS file", "no CFM weights", "v3/v4")


@pytest.mark.parametrize("head, name", [(b"05", "v2Pro"), (b"06", "v2ProPlus"), (b"00", "v1"), (b"01", "v2")])
def test_other_version_markers(tmp_path, weights, head, name):
    path = write_sovits(tmp_path / "pro.pth", weights, s2_config("v2"), head=head)
    refused(path, f"this is a {name} SoVITS file (version marker {head.decode()})", "v3/v4")


def test_v2pro_without_marker(tmp_path):
    weights = {"enc_p.text_embedding.weight": torch.zeros(732, 4), "sv_emb.weight": torch.zeros(4, 20480)}
    refused(write_sovits(tmp_path / "pro.pth", weights, s2_config("v2")), "v2Pro/v2ProPlus")


def test_gpt_checkpoint_given_as_sovits(tmp_path):
    """s1_train.py: {"weight": the Lightning module's state dict (model.*), "config": s1 yaml, "info": "GPT-e<n>"}."""
    weights = {"model.ar_text_embedding.word_embeddings.weight": torch.zeros(732, 8),
               "model.h.layers.0.self_attn.in_proj_weight": torch.zeros(24, 8)}
    path = tmp_path / "s1v3.ckpt"
    torch.save({"weight": {k: v.half() for k, v in weights.items()}, "config": {"model": {"vocab_size": 1025}},
                "info": "GPT-e15"}, path)
    refused(path, "GPT (text-to-semantic", "not a SoVITS file")


@pytest.mark.parametrize("fixture, kind", [("v4_small/vocoder.pth", "v4"), ("v3_small/bigvgan_generator.pt", "v3")])
def test_vocoder_given_as_sovits(fixtures, fixture, kind):
    refused(fixtures / fixture, f"this is a {kind} vocoder checkpoint", "not a SoVITS file")


def test_training_state_given_as_sovits(tmp_path, weights):
    path = tmp_path / "G_233333333333.pth"
    torch.save({"model": weights, "iteration": 8, "optimizer": {"state": {}}, "learning_rate": 1e-4}, path)
    refused(path, "training state", "SoVITS_weights_v4/")


def test_code_in_the_pickle_never_runs(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return os.system, (f"touch {marker}",)

    path = tmp_path / "evil.pth"
    torch.save({"weight": {"cfm.estimator.x": torch.zeros(1)}, "config": Payload()}, path)
    refused(path, "does not unpickle", "system")
    assert not marker.exists()


def test_lora_marker_without_rank(tmp_path, weights):
    path = write_sovits(tmp_path / "lora.pth", weights, s2_config("v4"), head=b"04")
    refused(path, "LoRA file (marker 04)", "lora_rank")


def test_legacy_torch_format(tmp_path, weights):
    path = tmp_path / "old.pth"
    buffer = io.BytesIO()
    torch.save({"weight": weights}, buffer, _use_new_zipfile_serialization=False)
    path.write_bytes(buffer.getvalue())
    refused(path, "legacy (pre-1.6) format")
