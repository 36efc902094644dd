"""Upstream's ``api_v2.py``, unchanged, with the overlay applied to its pipeline: what ``gsv-trt gpt-sovits api_v2``
serves, and what tests get a ``TestClient`` on without starting uvicorn.

api_v2 does its work at import: it parses ``sys.argv`` (``-a``, ``-p``, ``-c``) and builds the global ``tts_pipeline``
from the config, rewriting the YAML on the way. So the ``gsv_trt:`` section is read first (upstream's first save
drops misplaced keys), then api_v2 is imported with the argv ``python api_v2.py -a A -p P -c C`` would give it, then
the pipeline is accelerated. Its ``/control?command=restart`` re-executes ``sys.executable *argv`` with the argv it
kept at import; that argv is replaced by the launcher's own command line, so a restart comes back accelerated.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from ..errors import GsvTrtError
from .config import OverlayConfig, read_overlay_config
from .upstream import use_checkout

DEFAULT_CONFIG = "GPT_SoVITS/configs/tts_infer.yaml"  # api_v2's -c default, relative to the checkout
# lines of api_v2.py (GPT-SoVITS 48b1a01) the launcher relies on, and why
RELIED_ON = {
    'parser.add_argument("-c", "--tts_config"': "its -c option",
    'parser.add_argument("-a", "--bind_addr"': "its -a option",
    'parser.add_argument("-p", "--port"': "its -p option",
    "args = parser.parse_args()": "it reads its options from sys.argv at import",
    "tts_pipeline = TTS(tts_config)": "the pipeline the overlay accelerates",
    "APP = FastAPI()": "the app that is served",
    "argv = sys.argv": "the command line a restart re-runs",
    "os.execl(sys.executable, sys.executable, *argv)": "how /control?command=restart re-runs it",
}


@dataclass
class Launched:
    """api_v2 imported from a checkout, and what its pipeline runs now."""

    module: ModuleType  # upstream's api_v2 (``APP``, ``tts_pipeline``, ``TTS_Request`` ...)
    overlay: OverlayConfig | None  # None: the config's gsv_trt: section was refused (``what_runs`` says why)
    what_runs: str  # one line for the console

    @property
    def app(self):
        return self.module.APP


def check_api_v2(root: Path) -> Path:
    """``root/api_v2.py``, refused in one line where it lacks a line the launcher relies on (another upstream)."""
    path = root / "api_v2.py"
    source = path.read_text(encoding="utf-8", errors="replace")
    lines = {line.strip() for line in source.splitlines()}
    for relied, why in RELIED_ON.items():
        if not any(line.startswith(relied) for line in lines):
            raise GsvTrtError(f"{path}: differs from the api_v2.py gsv-trt knows (GPT-SoVITS 48b1a01): no line "
                              f"`{relied}` ({why})")
    return path


def launcher_argv(root: Path, config: Path, host: str, port: int) -> list[str]:
    """The arguments after ``sys.executable`` that start this launcher again (a restart of api_v2 runs them)."""
    return ["-m", "gsv_trt", "gpt-sovits", "api_v2", "--root", str(root), "-a", host, "-p", str(port),
            "-c", str(config)]


@contextmanager
def api_v2_app(root: str | Path, config: str | Path, host: str = "127.0.0.1", port: int = 9880,
               restart_argv: Sequence[str] | None = None) -> Iterator[Launched]:
    """api_v2 imported from ``root`` as ``python api_v2.py -a host -p port -c config`` runs it (working directory
    and ``sys.path`` set as upstream's), its pipeline accelerated as the config's ``gsv_trt:`` section asks.

    A refused section is printed in one line and leaves the stock pipeline. ``restart_argv`` (see
    :func:`launcher_argv`) replaces the argv api_v2 restarts with. The checkout stays entered, and api_v2 imported,
    until the block ends; then the module is forgotten, so its pipeline is freed with the last reference to it."""
    with use_checkout(root) as root:
        check_api_v2(root)
        config = Path(config).resolve()  # a relative path is relative to the checkout, as for upstream
        overlay, refused = None, ""
        try:
            if not config.exists():
                raise GsvTrtError(f"{config}: not found (upstream writes its default config there, without a "
                                  "gsv_trt: section)")
            overlay = read_overlay_config(config)
        except GsvTrtError as e:
            print(f"gsv-trt: {e}; the stock pipeline serves", file=sys.stderr, flush=True)
            refused = str(e)
        module = _import_api_v2(root, ["api_v2.py", "-a", host, "-p", str(port), "-c", str(config)])
        try:
            if restart_argv is not None:
                module.argv = list(restart_argv)
            if overlay is None:
                why = f"stock pipeline ({refused})"
            elif not overlay.use_tensorrt:
                why = f"stock pipeline (gsv_trt.use_tensorrt is not true in {config})"
            else:
                why = _accelerate(module.tts_pipeline, overlay)
            yield Launched(module, overlay, f"api_v2 ({_version(module.tts_pipeline)}): {why}")
        finally:
            sys.modules.pop("api_v2", None)


def _import_api_v2(root: Path, argv: list[str]) -> ModuleType:
    """A fresh import of ``root/api_v2.py`` with ``sys.argv`` = ``argv`` while it parses its options."""
    sys.modules.pop("api_v2", None)
    saved = sys.argv
    sys.argv = argv
    try:
        module = importlib.import_module("api_v2")
    finally:
        sys.argv = saved
    if Path(module.__file__).resolve() != root / "api_v2.py":
        sys.modules.pop("api_v2", None)
        raise GsvTrtError(f"{root}: `import api_v2` found {module.__file__}, not the checkout's api_v2.py")
    return module


def _accelerate(tts, overlay: OverlayConfig) -> str:
    """Apply the overlay; what runs afterwards, read off the pipeline itself (the hook prints its own progress)."""
    from .hook import accelerate

    try:
        accelerate(tts, overlay)
    except GsvTrtError as e:
        print(f"gsv-trt: {e}; the stock pipeline serves", file=sys.stderr, flush=True)
    return describe_pipeline(tts)


def describe_pipeline(tts) -> str:
    """Which CFM and vocoder a ``TTS`` object runs: the overlay's (with runtime and precision) or upstream's own."""
    parts = {"cfm": getattr(getattr(tts, "vits_model", None), "cfm", None), "vocoder": getattr(tts, "vocoder", None)}
    ours = {name: part for name, part in parts.items() if type(part).__module__.startswith("gsv_trt.")}
    if not ours:
        return "stock pipeline (the overlay left upstream's CFM and vocoder in place; see above)"
    return "accelerated: " + ", ".join(
        f"{name} ({part.extra_repr()})" if name in ours else f"{name} upstream's {type(part).__name__}"
        for name, part in parts.items())


def _version(tts) -> str:
    return f"GPT-SoVITS {tts.configs.version}"
