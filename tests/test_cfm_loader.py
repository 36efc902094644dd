"""load_cfm: every SoVITS file layout gives the CFM upstream would run (LoRA merged as peft merges it), says where
its weights came from, and refuses the wrong file or version in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gsv_trt.errors import GsvTrtError
from gsv_trt.models.cfm import CFM, DiTConfig
from gsv_trt.models.cfm.loader import RANDOM, load_cfm
from gsv_trt.models.sovits import read_sovits
from gsv_trt.models.sovits.pretrained import find_pretrained
from sovits_files import SMALL_DIT, peft_merged_cfm, s2_config, small_cfm, sovits_weights, train_peft_lora, write_sovits

RANK = 4


@pytest.fixture(scope="module")
def weights() -> dict[str, torch.Tensor]:
    return sovits_weights(small_cfm(seed=0))


@pytest.fixture
def v4_file(tmp_path, weights) -> Path:
    return write_sovits(tmp_path / "s2Gv4.pth", weights, s2_config("v4"))


@pytest.fixture
def gpt_sovits_root(tmp_path, weights) -> Path:
    """A GPT-SoVITS checkout as upstream lays out the pretrained SoVITS files."""
    pretrained = tmp_path / "GPT-SoVITS" / "GPT_SoVITS" / "pretrained_models"
    (pretrained / "gsv-v4-pretrained").mkdir(parents=True)
    write_sovits(pretrained / "s2Gv3.pth", weights, s2_config("v3"))
    write_sovits(pretrained / "gsv-v4-pretrained" / "s2Gv4.pth", weights, s2_config("v4"))
    return tmp_path / "GPT-SoVITS"


def cfm_state(loaded) -> dict[str, torch.Tensor]:
    return loaded.model.state_dict()


def refused(*needles: str, **kwargs) -> str:
    with pytest.raises(GsvTrtError) as info:
        load_cfm(config=SMALL_DIT, **kwargs)
    message = str(info.value)
    assert len(message.splitlines()) == 1, message
    for needle in needles:
        assert needle in message, message
    return message


def test_full_file_loads_fp16_weights_as_fp32(v4_file, weights):
    loaded = load_cfm("v4", v4_file, config=SMALL_DIT)
    state = cfm_state(loaded)
    assert not loaded.is_random and loaded.version == "v4" and loaded.weights == str(v4_file)
    assert not loaded.model.training and all(v.dtype == torch.float32 for v in state.values())
    for name, value in state.items():
        assert torch.equal(value, weights["cfm." + name].half().float()), name
    assert str(v4_file) in loaded.provenance and loaded.weights_sha256[:12] in loaded.provenance
    assert "RANDOM" not in loaded.provenance


def test_hparams_config_and_marker_02(tmp_path, weights, v4_file):
    hparams = load_cfm("v4", write_sovits(tmp_path / "a.pth", weights, s2_config("v4"), hparams=True),
                       config=SMALL_DIT)
    marker = load_cfm("v3", write_sovits(tmp_path / "b.pth", weights, s2_config("v3"), head=b"02"),
                      config=SMALL_DIT)
    same = load_cfm("v4", v4_file, config=SMALL_DIT)
    assert hparams.weights_sha256 == marker.weights_sha256 == same.weights_sha256


def test_digest_follows_the_weights(tmp_path, v4_file):
    other = write_sovits(tmp_path / "other.pth", sovits_weights(small_cfm(seed=1)), s2_config("v4"))
    assert load_cfm("v4", other, config=SMALL_DIT).weights_sha256 != load_cfm("v4", v4_file, config=SMALL_DIT).weights_sha256


def test_pretrained_file_from_gpt_sovits_root(gpt_sovits_root, v4_file):
    loaded = load_cfm("v4", RANDOM, gpt_sovits_root=gpt_sovits_root, config=SMALL_DIT)
    assert loaded.weights.endswith("gsv-v4-pretrained/s2Gv4.pth")
    assert loaded.weights_sha256 == load_cfm("v4", v4_file, config=SMALL_DIT).weights_sha256


@pytest.mark.parametrize("version, head", [("v4", b"04"), ("v3", b"03")])
def test_lora_merges_as_peft_does(tmp_path, gpt_sovits_root, version, head):
    """A LoRA file written as s2_train_v3_lora.py writes it (real peft), loaded on its base as TTS.init_vits_weights
    loads it: our merge equals peft's merge_and_unload."""
    pytest.importorskip("peft")
    base = read_sovits(find_pretrained(version, gpt_sovits_root))
    lora_weights = train_peft_lora(base.weights, RANK, seed=2)
    lora = write_sovits(tmp_path / f"voice_e8_s800_l{RANK}.pth", lora_weights, s2_config(version), head=head,
                        lora_rank=RANK, hparams=True)
    expected = peft_merged_cfm(base.weights, read_sovits(lora).weights, RANK)

    loaded = load_cfm(version, lora, gpt_sovits_root=gpt_sovits_root, config=SMALL_DIT)
    state = cfm_state(loaded)
    assert state.keys() == expected.keys()
    for name in state:
        assert torch.equal(state[name], expected[name]), name
    to_q = "estimator.transformer_blocks.0.attn.to_q.weight"
    assert not torch.equal(state[to_q], base.weights["cfm." + to_q].float())  # the LoRA changed something
    assert loaded.weights_sha256 != load_cfm(version, RANDOM, gpt_sovits_root=gpt_sovits_root,
                                             config=SMALL_DIT).weights_sha256
    assert f"{version} LoRA (rank {RANK}) on " in loaded.provenance

    explicit = load_cfm(version, lora, lora_base=base.path, config=SMALL_DIT)
    assert explicit.weights_sha256 == loaded.weights_sha256


def lora_file(tmp_path: Path, weights, head=b"04", **changes) -> Path:
    """A LoRA file by hand (no peft needed): rank-2 A/B for one projection."""
    name = "cfm.base_model.model.estimator.transformer_blocks.0.attn.to_v"
    tensors = {f"{name}.lora_A.default.weight": torch.ones(2, 64), f"{name}.lora_B.default.weight": torch.ones(64, 2)}
    tensors.update(changes)
    return write_sovits(tmp_path / "lora.pth", {k: v for k, v in tensors.items() if v is not None}, s2_config("v4"),
                        head=head, lora_rank=2)


def test_lora_merge_arithmetic(tmp_path, v4_file, weights):
    loaded = load_cfm("v4", lora_file(tmp_path, weights), lora_base=v4_file, config=SMALL_DIT)
    name = "estimator.transformer_blocks.0.attn.to_v.weight"
    assert torch.equal(cfm_state(loaded)[name], weights["cfm." + name].half().float() + 2.0)


def test_lora_without_its_base(tmp_path, weights):
    refused("holds only the fine-tuned deltas", "--lora-base", "gsv-v4-pretrained/s2Gv4.pth",
            version="v4", sovits_weights=lora_file(tmp_path, weights))


def test_lora_flaws(tmp_path, v4_file, weights):
    name = "cfm.base_model.model.estimator.transformer_blocks.0.attn.to_v"
    path = lora_file(tmp_path, weights, **{f"{name}.lora_B.default.weight": None})
    refused("has no lora_B", version="v4", sovits_weights=path, lora_base=v4_file)
    path = lora_file(tmp_path, weights, **{f"{name}.lora_A.default.weight": torch.ones(2, 32)})
    refused("with rank 2", "expected A [2, 64]", version="v4", sovits_weights=path, lora_base=v4_file)
    path = lora_file(tmp_path, weights, **{"cfm.base_model.model.estimator.nope.lora_A.default.weight": torch.ones(2, 4),
                                           "cfm.base_model.model.estimator.nope.lora_B.default.weight": torch.ones(4, 2)})
    refused("adapts cfm.estimator.nope.weight", version="v4", sovits_weights=path, lora_base=v4_file)
    refused("is itself a LoRA file", version="v4", sovits_weights=lora_file(tmp_path, weights),
            lora_base=lora_file(tmp_path / "..", weights))


def test_lora_base_for_a_full_file(v4_file):
    refused("not a LoRA file", version="v4", sovits_weights=v4_file, lora_base=v4_file)
    refused("needs a LoRA file", version="v4", lora_base=v4_file)


@pytest.mark.parametrize("head, given, found", [(b"PK", "v3", "v4"), (b"03", "v4", "v3 LoRA (rank 2)")])
def test_other_version(tmp_path, weights, head, given, found):
    version = "v3" if head == b"03" else "v4"
    path = write_sovits(tmp_path / "x.pth", weights, s2_config(version), head=head,
                        lora_rank=2 if head != b"PK" else None)
    refused(f"this is a {found} SoVITS file", f"but --version is {given}", version=given, sovits_weights=path)


def test_version_not_recorded_is_taken_from_the_caller(tmp_path, weights):
    config = s2_config("v4")
    del config["model"]["version"]
    loaded = load_cfm("v4", write_sovits(tmp_path / "ft.pth", weights, config), config=SMALL_DIT)
    assert loaded.version == "v4" and "v4, from --version" in loaded.provenance


def test_weights_that_do_not_fit_the_model(tmp_path, weights):
    narrow = DiTConfig(dim=32, depth=2, heads=2, dim_head=16, text_dim=32, conv_layers=1)
    path = write_sovits(tmp_path / "narrow.pth", sovits_weights(CFM(narrow)), s2_config("v4"))
    refused("has shape", version="v4", sovits_weights=path)
    missing = {k: v for k, v in weights.items() if k != "cfm.estimator.proj_out.bias"}
    refused("1 missing (first: estimator.proj_out.bias)", version="v4",
            sovits_weights=write_sovits(tmp_path / "m.pth", missing, s2_config("v4")))
    broken = dict(weights, **{"cfm.estimator.proj_out.bias": torch.full((100,), float("nan"))})
    refused("NaN or Inf", version="v4", sovits_weights=write_sovits(tmp_path / "n.pth", broken, s2_config("v4")))


def test_no_pretrained_file_under_root(tmp_path):
    refused("no v3 SoVITS file at GPT_SoVITS/pretrained_models/s2Gv3.pth", version="v3", gpt_sovits_root=tmp_path)


def test_random_weights_are_announced_and_deterministic():
    torch.manual_seed(123)
    expected_noise = torch.randn(3)
    torch.manual_seed(123)
    first = load_cfm("v3", RANDOM, config=SMALL_DIT)
    assert torch.equal(torch.randn(3), expected_noise)  # loading leaves the caller's noise draws alone
    second = load_cfm("v3", config=SMALL_DIT)
    assert first.is_random and first.weights == RANDOM and "RANDOM" in first.provenance
    assert first.weights_sha256 == second.weights_sha256


@pytest.fixture
def command_inputs(tmp_path, fixtures) -> list[str]:
    """``gsv-trt cfm`` arguments with valid MU/PROMPT files, so only the weights can be wrong."""
    import numpy as np

    io = np.load(fixtures / "cfm_full.npz")
    for name in ("mu", "prompt"):
        np.save(tmp_path / f"{name}.npy", io[f"cmd_{name}"])
    return ["cfm", "--mu", str(tmp_path / "mu.npy"), "--prompt", str(tmp_path / "prompt.npy"), "--steps", "4"]


def spoil(kind: str, tmp_path: Path, weights, fixtures) -> tuple[str, Path, str]:
    """(version to ask for, a bad SoVITS file, what the one-line error says)."""
    if kind == "random bytes":
        (tmp_path / "bytes.pth").write_bytes(bytes(range(256)) * 64)
        return "v4", tmp_path / "bytes.pth", "not a PyTorch checkpoint"
    if kind == "truncated":
        path = write_sovits(tmp_path / "cut.pth", weights, s2_config("v4"))
        path.write_bytes(path.read_bytes()[:5000])
        return "v4", path, "truncated or corrupt"
    if kind == "vocoder":
        return "v4", fixtures / "v4_small" / "vocoder.pth", "v4 vocoder checkpoint"
    if kind == "other version":
        return "v4", write_sovits(tmp_path / "v3.pth", weights, s2_config("v3")), "but --version is v4"
    if kind == "v2":
        path = write_sovits(tmp_path / "v2.pth", {"enc_p.text_embedding.weight": torch.zeros(732, 4)}, s2_config("v2"))
        return "v3", path, "v1/v2 SoVITS file"
    return "v4", lora_file(tmp_path, weights), "--lora-base FILE or --gpt-sovits-root DIR"


@pytest.mark.parametrize("kind", ["random bytes", "truncated", "vocoder", "other version", "v2", "LoRA without base"])
def test_command_refuses_bad_weights_in_one_line(tmp_path, fixtures, weights, command_inputs, capsys, kind):
    from gsv_trt.cli import main

    version, path, message = spoil(kind, tmp_path, weights, fixtures)
    out = tmp_path / "mel.npy"
    assert main([*command_inputs, "--version", version, "--sovits-weights", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and message in err.strip().splitlines()[-1] and str(path) in err, err
    assert not out.exists()
