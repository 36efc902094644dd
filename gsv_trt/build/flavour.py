"""Which TensorRT builds and runs the engine: full TensorRT (``tensorrt`` 10.x/11.x) or TensorRT for RTX
(``tensorrt_rtx``). They share the builder and runtime API but differ in where they build and what they run on:

- full TensorRT builds on the GPU it targets; the engine runs on that GPU model (same compute capability) with
  the same TensorRT version. Hopper (H100/H200, 9.0) included.
- TensorRT-RTX builds ahead of time on any machine, GPU or not, for a list of compute capabilities (by default
  8.0/8.6/8.9/12.x; 7.5 only when asked). It does not run on Hopper (9.0) or other data-centre parts outside that
  list. Its kernels are compiled just in time on the first run on each GPU.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from ..errors import GsvTrtError

NAMES = ("tensorrt", "rtx")
MODULES = {"tensorrt": "tensorrt", "rtx": "tensorrt_rtx"}
LABELS = {"tensorrt": "TensorRT", "rtx": "TensorRT-RTX"}
# gsv-trt is installed from its checkout (it is not on PyPI), so the hints name the checkout's extras
INSTALL_HINT = {"tensorrt": "pip install -e '.[tensorrt]' in the gsv-trt checkout (NVIDIA's tensorrt wheel)",
                "rtx": "pip install -e '.[rtx]' in the gsv-trt checkout (tensorrt-rtx, installs and builds without "
                       "a GPU)"}
# GPUs TensorRT-RTX runs on at all (support matrix 1.5-1.7 and its ComputeCapability enum): Turing, Ampere (A100 8.0
# and RTX 8.6), Ada, Blackwell RTX/GB10. Not Volta, not Hopper (H100/H200, 9.0), not Blackwell data-centre (10.x).
RTX_RUNS_ON = ("7.5", "8.0", "8.6", "8.9", "12.0", "12.1")
# What a TensorRT-RTX engine targets when the user names nothing: its own default (no Turing; 7.5 must be asked for).
RTX_DEFAULT_EXCLUDES = ("7.5",)


def cc_from_enum_name(name: str) -> str:
    """``SM86`` -> ``"8.6"``, ``SM120`` -> ``"12.0"``."""
    digits = name[2:]
    return f"{digits[:-1]}.{digits[-1]}"


@dataclass(frozen=True)
class Flavour:
    """An importable TensorRT of one flavour; ``trt`` is the module (``tensorrt`` or ``tensorrt_rtx``)."""

    name: str  # "tensorrt" | "rtx"
    trt: ModuleType

    @property
    def version(self) -> str:
        return self.trt.__version__

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])

    @property
    def label(self) -> str:
        return f"{LABELS[self.name]} {self.version}"

    @property
    def builds_without_gpu(self) -> bool:
        return self.name == "rtx"

    def supported_ccs(self) -> list[str]:
        """Compute capabilities this TensorRT-RTX can target, read from its ``ComputeCapability`` enum."""
        if self.name != "rtx":
            return []
        members = [m for m in self.trt.ComputeCapability.__members__ if m.startswith("SM")]
        return sorted((cc_from_enum_name(m) for m in members), key=lambda cc: tuple(map(int, cc.split("."))))

    def default_ccs(self) -> list[str]:
        return [cc for cc in self.supported_ccs() if cc not in RTX_DEFAULT_EXCLUDES]

    def cc_enum(self, cc: str):
        """The ``ComputeCapability`` member for ``"8.6"``; a clear error for one this version cannot target."""
        if cc not in self.supported_ccs():
            raise GsvTrtError(f"--target-cc {cc}: {self.label} targets compute capability "
                              f"{', '.join(self.supported_ccs())} only")
        major, minor = cc.split(".")
        return getattr(self.trt.ComputeCapability, f"SM{major}{minor}")

    def network_flags(self) -> int:
        """Strongly typed: the ONNX's own types decide precision. Always on in TensorRT 11 (flag deprecated there)."""
        if self.name == "tensorrt" and self.major >= 11:
            return 0
        flag = getattr(self.trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
        if flag is None:
            raise GsvTrtError(f"{self.label}: no strongly typed networks (needs TensorRT 10 or newer)")
        return 1 << int(flag)


def import_flavour(name: str) -> Flavour:
    """Import one flavour; a one-line error saying how to install it when it is missing or broken."""
    if name not in NAMES:
        raise GsvTrtError(f"TensorRT flavour {name!r}: expected one of {', '.join(NAMES)}")
    try:
        module = importlib.import_module(MODULES[name])
    except ImportError as e:  # also missing shared libraries, which the wheels report as ImportError/OSError
        raise GsvTrtError(f"{LABELS[name]} is not importable here ({e}); {INSTALL_HINT[name]}") from None
    except OSError as e:
        raise GsvTrtError(f"{LABELS[name]} is installed but cannot load its libraries ({e})") from None
    return Flavour(name, module)


def installed() -> dict[str, Flavour | str]:
    """Each flavour: the importable Flavour, or the reason it is not importable."""
    found: dict[str, Flavour | str] = {}
    for name in NAMES:
        try:
            found[name] = import_flavour(name)
        except GsvTrtError as e:
            found[name] = str(e)
    return found


def choose(choice: str, has_gpu: bool) -> Flavour:
    """The flavour ``--trt auto|tensorrt|rtx`` selects. ``auto`` prefers full TensorRT on a GPU (it runs on every
    GPU it is built on) and TensorRT-RTX otherwise (the only one that builds without a GPU)."""
    if choice == "auto":
        found = installed()
        if has_gpu and isinstance(found["tensorrt"], Flavour):
            return found["tensorrt"]
        if isinstance(found["rtx"], Flavour):
            return found["rtx"]
        if isinstance(found["tensorrt"], Flavour):
            raise GsvTrtError("full TensorRT is installed but builds only on a machine with an NVIDIA GPU; "
                              f"to build here without one: {INSTALL_HINT['rtx']}")
        raise GsvTrtError(f"no TensorRT installed: {INSTALL_HINT['rtx']}, or {INSTALL_HINT['tensorrt']}")
    flavour = import_flavour(choice)
    if not flavour.builds_without_gpu and not has_gpu:
        raise GsvTrtError(f"--trt tensorrt: {flavour.label} builds only on the NVIDIA GPU the engine is for, and "
                          "this machine has none; use --trt rtx to build ahead of time without a GPU")
    return flavour
