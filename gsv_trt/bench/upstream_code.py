"""Upstream GPT-SoVITS's own classes and synthesis functions, taken from the user's checkout, holding our weights.

The benchmarks compare against upstream's code itself, not a copy: the CFM and DiT (``module/models.py``,
``f5_tts/``; they need ``x_transformers``), ``SynthesizerTrnV3``, the v4 ``Generator`` and BigVGAN. Upstream's
synthesis functions are methods of ``TTS`` in ``TTS_infer_pack/TTS.py``, whose module imports the whole text front
end, T2S, BERT and HuBERT stack; so the three methods the synthesis stage runs (``using_vocoder_synthesis``,
``using_vocoder_synthesis_batched_infer``, ``sola_algorithm``) and the module-level helpers they call are compiled
from that file's source, unchanged, onto a small object carrying the attributes they read. Our weights are loaded
into upstream's modules (the state-dict names are upstream's), so both sides run identical weights.
"""

from __future__ import annotations

import ast
import types
from dataclasses import dataclass
from pathlib import Path

import torch

from ..errors import GsvTrtError
from ..gpt_sovits.upstream import use_checkout

TTS_FILE = "GPT_SoVITS/TTS_infer_pack/TTS.py"
TTS_METHODS = ("using_vocoder_synthesis", "using_vocoder_synthesis_batched_infer", "sola_algorithm")
TTS_HELPERS = ("resample", "norm_spec", "denorm_spec", "spec_min", "spec_max", "mel_fn", "mel_fn_v4",
               "resample_transform_dict")
# SynthesizerTrnV3 tensors that decode_encp does not read, so our front end does not hold them
UNUSED_BY_DECODE = ("ssl_proj.", "linear_mel.", "enc_p.proj.")
UNUSED_BUFFERS = ("._codebook.inited", "._codebook.cluster_size", "._codebook.embed_avg")
# TTS.init_vocoder's vocoder_configs
VOCODER_CONFIGS = {
    "v3": {"sr": 24000, "T_ref": 468, "T_chunk": 934, "upsample_rate": 256, "overlapped_len": 12},
    "v4": {"sr": 48000, "T_ref": 500, "T_chunk": 1000, "upsample_rate": 480, "overlapped_len": 12},
}


@dataclass
class UpstreamCode:
    """The checkout's classes; ``root`` is where they were imported from."""

    root: Path
    CFM: type
    DiT: type
    SynthesizerTrnV3: type
    Generator: type
    BigVGAN: type
    AttrDict: type

    def describe(self) -> str:
        return f"upstream's code from {self.root}"


def load_upstream(root: str | Path | None) -> tuple[UpstreamCode | None, str | None]:
    """(the checkout's classes, None), or (None, why not) when there is no checkout or its imports fail."""
    if root is None:
        return None, "no GPT-SoVITS checkout given (--gpt-sovits-root)"
    try:
        with use_checkout(root) as path:
            from BigVGAN.bigvgan import BigVGAN
            from BigVGAN.env import AttrDict
            from module.models import CFM, Generator, SynthesizerTrnV3
            from f5_tts.model import DiT
    except GsvTrtError as e:
        return None, str(e)
    except ImportError as e:
        return None, f"upstream's code in {root} does not import here ({type(e).__name__}: {e})"
    return UpstreamCode(path, CFM, DiT, SynthesizerTrnV3, Generator, BigVGAN, AttrDict), None


def upstream_cfm(code: UpstreamCode, model: torch.nn.Module) -> torch.nn.Module:
    """Upstream's ``CFM(100, DiT(...))`` of our CFM's config, holding its weights (strict)."""
    c = model.estimator.cfg
    dit = code.DiT(dim=c.dim, depth=c.depth, heads=c.heads, dim_head=c.dim_head, ff_mult=c.ff_mult,
                   mel_dim=c.mel_dim, text_dim=c.text_dim, conv_layers=c.conv_layers)
    with torch.random.fork_rng(devices=[]):
        cfm = code.CFM(c.mel_dim, dit)
    cfm.load_state_dict(model.state_dict(), strict=True)
    return cfm.eval()


def upstream_synthesizer(code: UpstreamCode, version: str, frontend: torch.nn.Module,
                         cfm: torch.nn.Module) -> torch.nn.Module:
    """Upstream's ``SynthesizerTrnV3`` as ``TTS.init_vits_weights`` builds it, with our front end's weights and
    ``cfm`` (upstream's CFM) in place of its own. Built on the meta device first: its own 337 M CFM is never made."""
    from ..gpt_sovits.random_models.sovits import sovits_hps

    hps = sovits_hps(code.root, version)
    data = hps["data"]
    with use_checkout(code.root), torch.device("meta"):
        model = code.SynthesizerTrnV3(data["filter_length"] // 2 + 1, hps["train"]["segment_size"] // data["hop_length"],
                                      n_speakers=data["n_speakers"], **hps["model"])
    model.cfm = torch.nn.Identity()
    model = model.to_empty(device="cpu")
    for module in model.modules():  # our front end holds weight norm folded (the same weights, one tensor each)
        if hasattr(module, "weight_g"):
            torch.nn.utils.remove_weight_norm(module)
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            tensor.zero_()  # parts decode_encp does not use (ssl_proj, linear_mel, enc_p.proj) hold zeros
    result = model.load_state_dict(frontend.state_dict(), strict=False)
    unused = [k for k in result.missing_keys if not k.startswith(UNUSED_BY_DECODE) and not k.endswith(UNUSED_BUFFERS)]
    if result.unexpected_keys or unused:
        what = (result.unexpected_keys or unused)[0]
        raise GsvTrtError(f"upstream's SynthesizerTrnV3 and our front end differ at {what}")
    model.cfm = cfm
    return model.eval()


def upstream_vocoder(code: UpstreamCode, loaded) -> torch.nn.Module:
    """Upstream's vocoder as ``TTS.init_vocoder`` builds it (weight norm removed), holding our vocoder's weights."""
    config = loaded.config
    with torch.random.fork_rng(devices=[]):
        if loaded.spec.version == "v3":
            model = code.BigVGAN(code.AttrDict(config))
        else:
            model = code.Generator(initial_channel=100, resblock="1", resblock_kernel_sizes=[3, 7, 11],
                                   resblock_dilation_sizes=[[1, 3, 5]] * 3, upsample_rates=[10, 6, 2, 2, 2],
                                   upsample_initial_channel=config.get("upsample_initial_channel", 512),
                                   upsample_kernel_sizes=[20, 12, 4, 4, 4], gin_channels=0, is_bias=True)
    model.remove_weight_norm()
    model.load_state_dict(loaded.model.state_dict(), strict=True)
    return model.eval()


def tts_methods(code: UpstreamCode) -> type:
    """A class holding upstream's three synthesis methods, compiled from the checkout's TTS.py with the
    module-level helpers they call (``resample``, ``mel_fn``, ``norm_spec`` ...), none of its other imports."""
    path = code.root / TTS_FILE
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    helpers, methods = [], {}
    for node in tree.body:
        names = [node.name] if isinstance(node, ast.FunctionDef) else \
            [t.id for t in getattr(node, "targets", []) if isinstance(t, ast.Name)]
        if any(n in TTS_HELPERS for n in names):
            helpers.append(node)
        if isinstance(node, ast.ClassDef) and node.name == "TTS":
            methods = {f.name: f for f in node.body if isinstance(f, ast.FunctionDef) and f.name in TTS_METHODS}
    missing = [m for m in TTS_METHODS if m not in methods]
    if missing:
        raise GsvTrtError(f"{path}: no TTS.{missing[0]} (not a v3/v4 checkout this benchmark knows)")
    namespace = _tts_namespace(code)
    with use_checkout(code.root):
        exec(compile(ast.Module(body=helpers, type_ignores=[]), str(path), "exec"), namespace)
        cls = ast.ClassDef(name="UpstreamTTS", bases=[], keywords=[], body=[methods[m] for m in TTS_METHODS],
                           decorator_list=[])
        exec(compile(ast.fix_missing_locations(ast.Module(body=[cls], type_ignores=[])), str(path), "exec"),
             namespace)
    return namespace["UpstreamTTS"]


def _tts_namespace(code: UpstreamCode) -> dict:
    """What TTS.py imports that the methods and helpers use, but torchaudio: its ``resample`` is reached only when
    the raw reference audio is not at the prompt mel's rate, and callers hand it over at that rate."""
    from typing import List, Tuple, Union

    import torch.nn.functional as F

    with use_checkout(code.root):
        from module.mel_processing import mel_spectrogram_torch, spectrogram_torch
    return {"torch": torch, "F": F, "List": List, "Tuple": Tuple, "Union": Union,
            "mel_spectrogram_torch": mel_spectrogram_torch, "spectrogram_torch": spectrogram_torch}


def tts_object(methods: type, version: str, vits_model, vocoder, prompt_cache: dict, device: torch.device,
               precision: torch.dtype, vocoder_configs: dict | None = None):
    """An object with what upstream's synthesis methods read from ``self`` (TTS's attributes of those names)."""
    tts = methods()
    tts.vits_model, tts.vocoder, tts.prompt_cache, tts.precision = vits_model, vocoder, prompt_cache, precision
    tts.configs = types.SimpleNamespace(device=device, version=version)
    tts.vocoder_configs = dict(vocoder_configs or VOCODER_CONFIGS[version])
    return tts
