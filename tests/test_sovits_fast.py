"""The torch-fast SoVITS front end pads inputs to length buckets and masks them: on the CPU (no graphs) its output
equals the plain model's ``decode_encp`` within 1e-5 for lengths at the start, middle and end of a bucket; what
padding cannot make exact (speed != 1, lengths past the ladder) runs the plain model."""

from __future__ import annotations

import pytest
import torch

from gsv_trt.errors import GsvTrtError
from gsv_trt.models.sovits.frontend import FrontEndConfig, feature_frames
from gsv_trt.models.sovits.frontend_loader import random_frontend
from gsv_trt.runtime.sovits.buckets import TOKEN_LADDER, bucket
from gsv_trt.runtime.sovits.torch_fast import TorchFastFrontEnd
from gsv_trt.synthesis.runners import frontend_runner

TOL = 1e-5
SMALL = FrontEndConfig(ssl_dim=32, hidden_channels=16, filter_channels=32, style_hidden=16, gin_channels=16,
                       fea_channels=16)
# (tokens, phones) at the first, a middle and the last length of the buckets (64, 64): 33..64 share one graph
LENGTHS = [(64, 64), (48, 40), (33, 33)]  # longest first: shorter calls find the longer ones' ids in the padding
SPEC_FRAMES = [192, 160, 129]  # bucket 192


def inputs(tokens: int, phones: int, spec_frames: int = 151, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 1024, (1, 1, tokens), generator=g), torch.randint(0, 732, (1, phones), generator=g),
            torch.rand(1, 1025, spec_frames, generator=g))


def small(version: str):
    return random_frontend(version, config=SMALL).model.eval()


def diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return float((a - b).abs().max())


@pytest.mark.parametrize("version", ["v3", "v4"])
def test_padded_prompt_and_segment_calls_equal_the_plain_model(version):
    plain = small(version)
    fast = TorchFastFrontEnd(plain)
    for (tokens, phones), spec_frames in zip(LENGTHS, SPEC_FRAMES):
        codes, ph, spec = inputs(tokens, phones, spec_frames, seed=tokens)
        fea, ge = plain.decode_encp(codes, ph, spec)
        fast_fea, fast_ge = fast.decode_encp(codes, ph, spec)  # prompt call: style from the spectrogram
        assert fast_fea.shape == (1, SMALL.fea_channels, feature_frames(tokens, version))
        assert diff(fast_ge, ge) <= TOL and diff(fast_fea, fea) <= TOL
        seg_codes, seg_ph, _ = inputs(tokens, phones, seed=tokens + 1)
        seg, _ = plain.decode_encp(seg_codes, seg_ph, None, ge)
        fast_seg, same_ge = fast.decode_encp(seg_codes, seg_ph, None, ge)  # segment call: ge given
        assert same_ge is ge and diff(fast_seg, seg) <= TOL
        assert diff(seg, fea) > 0.1  # random weights, but the output follows the input
    assert set(fast.capture_seconds) == {("style", 192), ("features", 64, 64)}  # one bucket each, all lengths
    assert fast.eager_calls == 0 and "no graphs" in fast.info.detail


def test_full_size_v4_equals_the_plain_model():
    loaded = random_frontend("v4")
    plain = loaded.model.eval()
    fast = TorchFastFrontEnd(plain, loaded.provenance)
    codes, phones, spec = inputs(250, 100, 400)  # 10 s of v4 speech: token bucket 256, phone bucket 128
    fea, ge = plain.decode_encp(codes, phones, spec)
    fast_fea, fast_ge = fast.decode_encp(codes, phones, spec)
    assert diff(fast_ge, ge) <= TOL and diff(fast_fea, fea) <= TOL
    assert ("features", 256, 128) in fast.capture_seconds and "random" in fast.info.detail.lower()


def test_speed_and_lengths_past_the_ladder_run_the_plain_model():
    plain = small("v4")
    fast = TorchFastFrontEnd(plain, token_ladder=(32,))
    codes, phones, spec = inputs(20, 10)
    ge = plain.ref_style(spec)
    assert torch.equal(fast.decode_encp(codes, phones, None, ge, speed=1.3)[0],
                       plain.decode_encp(codes, phones, None, ge, speed=1.3)[0])
    long_codes, long_phones, _ = inputs(40, 10)
    assert torch.equal(fast.decode_encp(long_codes, long_phones, None, ge)[0],
                       plain.decode_encp(long_codes, long_phones, None, ge)[0])
    assert fast.eager_calls == 2 and not fast.capture_seconds


def test_lru_keeps_the_newest_buckets():
    fast = TorchFastFrontEnd(small("v3"), max_graphs=2)
    ge = fast.ref_style(inputs(1, 1)[2])  # style bucket 192
    for tokens in (10, 40, 70):  # buckets 32, 64, 96
        fast.decode_encp(*inputs(tokens, 5)[:2], None, ge)
    assert list(fast.entries) == [("features", 64, 32), ("features", 96, 32)]
    assert bucket(TOKEN_LADDER[-1] + 1, TOKEN_LADDER) is None


def test_bad_input_is_refused_in_one_line():
    fast = TorchFastFrontEnd(small("v4"))
    codes, phones, spec = inputs(20, 10)
    with pytest.raises(GsvTrtError, match="refer_spec: needed"):
        fast.decode_encp(codes, phones, None)
    with pytest.raises(GsvTrtError, match="refer_spec: expected shape"):
        fast.decode_encp(codes, phones, spec[:, :704])
    with pytest.raises(GsvTrtError):
        fast.decode_encp(codes + 1024, phones, spec)


def test_the_cpu_stage_keeps_the_plain_front_end():
    plain = small("v4")
    front, info = frontend_runner(plain, "auto", torch.device("cpu"), "random weights")
    assert front is plain and (info.name, info.precision, info.device) == ("torch-eager", "fp32", "cpu")
    with pytest.raises(GsvTrtError, match="runtime torch-fast: needs a CUDA GPU"):
        frontend_runner(plain, "torch-fast", torch.device("cpu"))
