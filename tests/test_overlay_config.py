"""The ``gsv_trt:`` section of tts_infer.yaml: every key, every kind of bad value, and the keys placed where upstream
drops or ignores them. Every refusal is one line naming the file and the key."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from gsv_trt.errors import GsvTrtError
from gsv_trt.gpt_sovits.config import OverlayConfig, overlay_config, read_overlay_config

# upstream's own sections, as its committed tts_infer.yaml has them (abridged)
UPSTREAM_SECTIONS = """\
custom:
  device: cuda
  is_half: true
  version: v4
  t2s_weights_path: GPT_SoVITS/pretrained_models/s1v3.ckpt
  vits_weights_path: GPT_SoVITS/pretrained_models/gsv-v4-pretrained/s2Gv4.pth
v4:
  device: cpu
  is_half: false
  version: v4
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "tts_infer.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def refusal(section=None, *, yaml_text: str | None = None, tmp_path: Path | None = None) -> str:
    with pytest.raises(GsvTrtError) as caught:
        if yaml_text is None:
            overlay_config(section, source="my.yaml")
        else:
            read_overlay_config(write(tmp_path, yaml_text))
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_no_section_means_the_stock_pipeline(tmp_path):
    assert overlay_config(None) == OverlayConfig()
    assert not OverlayConfig().use_tensorrt
    assert read_overlay_config(write(tmp_path, UPSTREAM_SECTIONS)) == OverlayConfig()
    assert read_overlay_config(write(tmp_path, UPSTREAM_SECTIONS + "gsv_trt:\n")) == OverlayConfig()


def test_defaults_fit_the_builder_and_the_cfm_profiles():
    from gsv_trt.build.builder import BuildOptions
    from gsv_trt.build.profiles import cfm_profiles

    config = OverlayConfig()
    assert config.workspace_bytes == BuildOptions().workspace_bytes  # TensorRT's default: engines shared with make
    batched = cfm_profiles(1000)[-1]
    assert batched.name == "batched" and batched.batch[2] == config.max_batch
    assert (config.precision, config.runtime, config.engine_dir, config.parts) == \
        ("fp16", "auto", Path("engines"), ("cfm", "vocoder"))


def test_every_key_read_from_the_file(tmp_path):
    path = write(tmp_path, UPSTREAM_SECTIONS + textwrap.dedent("""\
        gsv_trt:
          use_tensorrt: true
          tensorrt_precision: bf16
          tensorrt_workspace_size: 4096
          tensorrt_max_batch_size: 16
          runtime: torch-fast
          engine_dir: /data/engines
          parts: [vocoder]
        """))
    assert read_overlay_config(path) == OverlayConfig(
        use_tensorrt=True, precision="bf16", workspace_bytes=4 * 2**30, max_batch=16, runtime="torch-fast",
        engine_dir=Path("/data/engines"), parts=("vocoder",))


@pytest.mark.parametrize("written, size", [
    (4096, 4 * 2**30),  # a bare number is MiB, as trtexec reads it
    ("4GiB", 4 * 2**30), ("512MiB", 2**29), ("1.5G", 3 * 2**29), ("2048", 2 * 2**30), ("1073741824B", 2**30),
    (None, None),  # TensorRT's default
])
def test_workspace_size_in_mib_or_with_a_unit(written, size):
    assert overlay_config({"tensorrt_workspace_size": written}).workspace_bytes == size


def test_precisions_runtimes_and_parts():
    assert [overlay_config({"tensorrt_precision": p}).precision for p in ("fp16", "bf16", "fp32")] == \
        ["fp16", "bf16", "fp32"]
    assert [overlay_config({"runtime": r}).runtime for r in ("auto", "tensorrt", "torch-fast", "eager")] == \
        ["auto", "tensorrt", "torch-fast", "eager"]
    assert overlay_config({"parts": ["vocoder", "cfm"]}).parts == ("vocoder", "cfm")
    assert overlay_config({"parts": "cfm"}).parts == ("cfm",)
    assert overlay_config({"engine_dir": "my engines"}).engine_dir == Path("my engines")


@pytest.mark.parametrize("section, expected", [
    ({"use_tensorrt": "yes please"}, "gsv_trt.use_tensorrt: must be true or false, not str 'yes please'"),
    ({"use_tensorrt": 1}, "gsv_trt.use_tensorrt: must be true or false"),
    ({"tensorrt_precision": "int8"}, "gsv_trt.tensorrt_precision: must be one of fp16, bf16, fp32, not str 'int8'"),
    ({"tensorrt_precision": "FP16"}, "gsv_trt.tensorrt_precision: must be one of"),
    ({"tensorrt_workspace_size": -1}, "gsv_trt.tensorrt_workspace_size: must be a positive size"),
    ({"tensorrt_workspace_size": 0}, "gsv_trt.tensorrt_workspace_size: must be a positive size"),
    ({"tensorrt_workspace_size": "4 lots"}, "gsv_trt.tensorrt_workspace_size: must be a size in MiB"),
    ({"tensorrt_workspace_size": 4.5}, "gsv_trt.tensorrt_workspace_size: must be a size in MiB"),
    ({"tensorrt_workspace_size": True}, "gsv_trt.tensorrt_workspace_size: must be a size in MiB"),
    ({"tensorrt_max_batch_size": 0}, "gsv_trt.tensorrt_max_batch_size: must be a whole number of at least 1"),
    ({"tensorrt_max_batch_size": -4}, "gsv_trt.tensorrt_max_batch_size: must be a whole number of at least 1"),
    ({"tensorrt_max_batch_size": "8"}, "gsv_trt.tensorrt_max_batch_size: must be a whole number"),
    ({"tensorrt_max_batch_size": True}, "gsv_trt.tensorrt_max_batch_size: must be a whole number"),
    ({"runtime": "onnxruntime"}, "gsv_trt.runtime: must be one of auto, tensorrt, torch-fast, eager"),
    ({"engine_dir": ""}, "gsv_trt.engine_dir: must be a directory path"),
    ({"engine_dir": 3}, "gsv_trt.engine_dir: must be a directory path"),
    ({"parts": ["cfm", "t2s"]}, "gsv_trt.parts: unknown part str 't2s' (known: cfm, vocoder)"),
    ({"parts": []}, "gsv_trt.parts: must list one or more of cfm, vocoder"),
    ({"parts": ["cfm", "cfm"]}, "gsv_trt.parts: lists cfm twice"),
    ({"use_tenssorrt": True}, "gsv_trt.use_tenssorrt: unknown key (did you mean use_tensorrt?)"),
    ({"max_batch": 4}, "gsv_trt.max_batch: unknown key (did you mean tensorrt_max_batch_size?)"),
    ({"colour": "blue"}, "gsv_trt.colour: unknown key (known keys: use_tensorrt,"),
    (True, "gsv_trt: must be a section of keys"),
])
def test_bad_values_are_refused_naming_file_and_key(section, expected):
    message = refusal(section)
    assert message.startswith("my.yaml: ") and expected in message


def test_a_section_under_custom_is_refused_before_upstream_drops_it(tmp_path):
    message = refusal(tmp_path=tmp_path, yaml_text=UPSTREAM_SECTIONS.replace(
        "custom:\n", "custom:\n  gsv_trt:\n    use_tensorrt: true\n"))
    assert message == (f"{tmp_path / 'tts_infer.yaml'}: custom.gsv_trt: move it to a top-level gsv_trt: section "
                       "(upstream's save_configs keeps only its own 7 keys there and would drop it at the next "
                       "weight load)")


def test_seed_keys_outside_the_section_are_refused(tmp_path):
    under_custom = refusal(tmp_path=tmp_path, yaml_text=UPSTREAM_SECTIONS.replace(
        "custom:\n", "custom:\n  use_tensorrt: true\n"))
    assert "custom.use_tensorrt: move it to the top-level gsv_trt: section" in under_custom
    in_a_version = refusal(tmp_path=tmp_path, yaml_text=UPSTREAM_SECTIONS + "  tensorrt_precision: fp16\n")
    assert "v4.tensorrt_precision: move it to the top-level gsv_trt: section (GPT-SoVITS ignores it there)" \
        in in_a_version
    top_level = refusal(tmp_path=tmp_path, yaml_text=UPSTREAM_SECTIONS + "use_tensorrt: true\n")
    assert "use_tensorrt: belongs in the top-level gsv_trt: section" in top_level


def test_unreadable_files_are_refused(tmp_path):
    with pytest.raises(GsvTrtError, match="missing.yaml: cannot read the GPT-SoVITS config"):
        read_overlay_config(tmp_path / "missing.yaml")
    assert "not valid YAML at line 2" in refusal(tmp_path=tmp_path, yaml_text="gsv_trt:\n\tuse_tensorrt: true\n")
    assert "not a GPT-SoVITS config" in refusal(tmp_path=tmp_path, yaml_text="- just\n- a list\n")
