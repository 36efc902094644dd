"""A runnable GPT-SoVITS tree with random weights: a copy of a checkout plus every file its v3/v4 inference loads.

Layout written under ``GPT_SoVITS/pretrained_models/`` (upstream's default paths, so the fallbacks in TTS_Config and
the LoRA base lookup in TTS.init_vits_weights find them), plus user-style fine-tunes and configs:

    s1v3.ckpt                                    text-to-semantic (reduced size, or full_size; t2s.py)
    s2Gv3.pth, gsv-v4-pretrained/s2Gv4.pth       full SoVITS bases, 733 MiB each (sovits.py)
    chinese-roberta-wwm-ext-large/               BERT (2 layers, or full_size 24; bert.py)
    chinese-hubert-base/                         HuBERT (2 layers, or full_size 12; hubert.py)
    fast_langdetect/lid.176.bin                  language identification (langdetect.py)
    models--nvidia--bigvgan_v2_24khz_100band_256x/, gsv-v4-pretrained/vocoder.pth   vocoders (vocoders.py)
    RANDOM_WEIGHTS.txt                           says that all of the above are random
  SoVITS_weights_v3/random-v3-lora.pth, SoVITS_weights_v4/random-v4-lora.pth   LoRA fine-tunes (markers 03 / 04)
  GPT_SoVITS/configs/random-v3.yaml, random-v4.yaml   tts_infer.yaml files whose ``custom`` section runs them on CPU
  random-reference.wav                           3.2 s of the bundled LibriTTS clip (upstream takes 3-10 s)

The copy keeps the user's checkout untouched: upstream writes into its tree at run time (it rewrites the config
YAML on every weight load and creates ``GPT_SoVITS/configs/``).
"""

from __future__ import annotations

import shutil
import stat
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf
import yaml

from ...models.mel import shipped_speech
from ..upstream import checkout_root
from .bert import write_bert
from .hubert import write_hubert
from .langdetect import write_langdetect_model
from .sovits import write_sovits_base, write_sovits_lora
from .t2s import write_t2s
from .vocoders import write_vocoder

VERSIONS = ("v3", "v4")
PRETRAINED = Path("GPT_SoVITS") / "pretrained_models"
BASE_FILES = {"v3": "s2Gv3.pth", "v4": "gsv-v4-pretrained/s2Gv4.pth"}  # TTS_Config.default_configs
T2S_FILE = "s1v3.ckpt"
BERT_DIR = "chinese-roberta-wwm-ext-large"
HUBERT_DIR = "chinese-hubert-base"
REFERENCE_SECONDS = 3.2
NOTICE = ("Every model file in this directory holds RANDOM weights written by gsv-trt "
          "(gsv_trt/gpt_sovits/random_models): right layouts, not trained models. Their audio is noise-like.\n")


@dataclass(frozen=True)
class RandomWorkspace:
    """Where everything is (absolute paths); ``configs[v]`` runs version ``v`` through its LoRA file."""

    root: Path
    configs: dict[str, Path]
    loras: dict[str, Path]
    bases: dict[str, Path]
    reference: Path


def relative(path: Path, root: Path) -> str:
    """A path as upstream's own configs hold them: relative to the checkout (the working directory)."""
    return path.relative_to(root).as_posix()


def write_config(root: Path, version: str, sovits: Path) -> Path:
    """A tts_infer.yaml whose ``custom`` section selects ``version`` on the CPU in fp32 with the random files."""
    custom = {"device": "cpu", "is_half": False, "version": version,
              "t2s_weights_path": relative(root / PRETRAINED / T2S_FILE, root),
              "vits_weights_path": relative(sovits, root),
              "bert_base_path": relative(root / PRETRAINED / BERT_DIR, root),
              "cnhuhbert_base_path": relative(root / PRETRAINED / HUBERT_DIR, root)}
    path = root / "GPT_SoVITS" / "configs" / f"random-{version}.yaml"
    path.write_text(yaml.dump({"custom": custom}))
    return path


def write_reference(path: Path, seconds: float = REFERENCE_SECONDS) -> Path:
    """The first ``seconds`` of the bundled speech clip, 24 kHz 16-bit (what a user uploads as reference)."""
    audio, rate = sf.read(shipped_speech(), dtype="int16")
    sf.write(path, audio[: int(seconds * rate)], rate, subtype="PCM_16")
    return path


def write_workspace(checkout: str | Path, dest: str | Path, max_sec: float = 1.0,
                    full_size: bool = False) -> RandomWorkspace:
    """Copy ``checkout`` to ``dest`` (must not exist) and write the random-weight files into the copy; ``full_size``
    writes the text-to-semantic model, BERT and HuBERT at upstream's real sizes (the rest always is)."""
    source, root = checkout_root(checkout), Path(dest).resolve()
    shutil.copytree(source, root, ignore=shutil.ignore_patterns(".git", "__pycache__"))
    for path in (root, *root.rglob("*")):  # a read-only source (../shared) gives a read-only copy; upstream writes
        path.chmod(path.stat().st_mode | stat.S_IWUSR)
    try:
        return _write_models(root, max_sec, full_size)
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)  # no half-written tree
        raise


def _write_models(root: Path, max_sec: float, full_size: bool) -> RandomWorkspace:
    """Every model file, the configs and the reference audio into the copy at ``root``."""
    models = root / PRETRAINED
    models.mkdir(parents=True, exist_ok=True)
    write_t2s(root, models / T2S_FILE, max_sec=max_sec, full_size=full_size)
    write_bert(models / BERT_DIR, full_size=full_size)
    write_hubert(models / HUBERT_DIR, full_size=full_size)
    write_langdetect_model(models)
    bases, loras, configs = {}, {}, {}
    for version in VERSIONS:
        write_vocoder(models, version)
        bases[version] = write_sovits_base(root, models / BASE_FILES[version], version)
        loras[version] = write_sovits_lora(root, root / f"SoVITS_weights_{version}" / f"random-{version}-lora.pth",
                                           version)
        configs[version] = write_config(root, version, loras[version])
    (models / "RANDOM_WEIGHTS.txt").write_text(NOTICE)
    reference = write_reference(root / "random-reference.wav")
    return RandomWorkspace(root, configs, loras, bases, reference)
