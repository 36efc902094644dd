"""The torch-fast SoVITS front end on a GPU: CUDA-graph replays of the full-size random v4 front end equal eager
fp32 (TF32 off) within 1e-4, replay new data, serve two threads and two streams at once, capture a new bucket on
first use and run inputs past the largest bucket eagerly; the stage opened for torch-fast on CUDA runs it and says
so."""

from __future__ import annotations

import copy
import threading

import pytest
import torch

from gsv_trt.models.cfm.config import DiTConfig
from gsv_trt.models.sovits.frontend_loader import random_frontend
from gsv_trt.quality import metrics
from gsv_trt.synthesis import Segment
from gsv_trt.synthesis.loader import open_stage
from gsv_trt.synthesis.prompt import Prompt
from gsv_trt.runtime.sovits.buckets import TOKEN_LADDER
from gsv_trt.runtime.sovits.torch_fast import TorchFastFrontEnd

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
pytestmark = [pytest.mark.gpu, needs_gpu]
TOL = 1e-4


@pytest.fixture(scope="module")
def plain():
    return random_frontend("v4").model.eval().cuda()


@pytest.fixture(scope="module")
def fast(plain):
    return TorchFastFrontEnd(plain)


def inputs(tokens: int, phones: int, spec_frames: int = 400, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randint(0, 1024, (1, 1, tokens), generator=g).cuda(),
            torch.randint(0, 732, (1, phones), generator=g).cuda(),
            torch.rand(1, 1025, spec_frames, generator=g).cuda())


def eager(plain, *args):
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):
        return plain.decode_encp(*args)


def diff(a: torch.Tensor, b: torch.Tensor) -> float:
    assert a.shape == b.shape
    return float((a - b).abs().max())


def test_replays_equal_eager_fp32_and_take_new_data(plain, fast):
    for seed, (tokens, phones, spec) in enumerate([(250, 100, 400), (230, 120, 390)]):  # buckets 256/128, 448
        args = inputs(tokens, phones, spec, seed)
        fea, ge = eager(plain, *args)
        fast_fea, fast_ge = fast.decode_encp(*args)
        assert diff(fast_ge, ge) <= TOL and diff(fast_fea, fea) <= TOL
        seg = inputs(tokens, phones, seed=seed + 10)[:2]
        assert diff(fast.decode_encp(*seg, None, ge)[0], eager(plain, *seg, None, ge)[0]) <= TOL
    assert all(e.graph is not None for k, e in fast.entries.items() if k[:3] == ("features", 256, 128))
    assert set(fast.capture_seconds) >= {("features", 256, 128), ("style", 448)}


def test_two_threads_each_get_their_own_result(plain, fast):
    args = [inputs(200 + i, 90 + i, seed=20 + i) for i in range(2)]  # one bucket: the same static buffers
    expected = [eager(plain, *a)[0] for a in args]
    errors: list[float] = []

    def work(i: int) -> None:
        for _ in range(20):
            errors.append(diff(fast.decode_encp(*args[i])[0], expected[i]))

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 40 and max(errors) <= TOL


def test_calls_on_two_streams_overlap_and_each_gets_its_own_result(plain, fast):
    # the stage's prompt and first segment: one bucket (224/96), on two streams with no sync in between
    args = [inputs(210 + i, 95 + i, seed=50 + i) for i in range(2)]
    expected = [eager(plain, *a)[0] for a in args]
    streams = [torch.cuda.Stream(), torch.cuda.Stream()]
    for _ in range(10):
        got = []
        for stream, a in zip(streams, args):
            stream.wait_stream(torch.cuda.current_stream())
            with torch.cuda.stream(stream):
                got.append(fast.decode_encp(*a)[0])
        for stream in streams:
            torch.cuda.current_stream().wait_stream(stream)
        assert max(diff(g, e) for g, e in zip(got, expected)) <= TOL
    lanes = {k[-1] for k in fast.entries if k[0] == "features"}
    assert {s.cuda_stream for s in streams} <= lanes  # a graph and static buffers for each stream


def test_a_new_bucket_captures_and_past_the_ladder_runs_eager(plain, fast):
    before = set(fast.capture_seconds)
    args = inputs(40, 20, 200, seed=30)  # buckets 64/32 and 256, unused above
    assert diff(fast.decode_encp(*args)[0], eager(plain, *args)[0]) <= TOL
    assert set(fast.capture_seconds) - before == {("features", 64, 32), ("style", 256)}
    eager_calls = fast.eager_calls
    long_args = inputs(TOKEN_LADDER[-1] + 1, 100, seed=31)
    assert diff(fast.decode_encp(*long_args)[0], eager(plain, *long_args)[0]) <= TOL
    assert fast.eager_calls == eager_calls + 1


@pytest.mark.parametrize("runtime, name", [("torch-fast", "torch-fast"), ("eager", "torch-eager")])
def test_the_stage_on_torch_fast_runs_the_fast_front_end(runtime, name):
    small_cfm = DiTConfig(dim=64, depth=2, heads=2, dim_head=32, text_dim=512, conv_layers=2)
    opened = open_stage("v4", runtime=runtime, precision="fp32", device="cuda", cfm_config=small_cfm)
    front = opened.stage.frontend
    assert opened.parts["front end"].name == name and isinstance(front, TorchFastFrontEnd) == (runtime != "eager")
    codes, phones, spec = inputs(120, 50, seed=40)
    plain = front.model if isinstance(front, TorchFastFrontEnd) else front
    fea, ge = eager(plain, codes, phones, spec)
    prompt = Prompt(fea, torch.zeros(1, 100, fea.shape[2], device="cuda"), ge)  # features() reads its ge
    with torch.backends.cudnn.flags(enabled=True, allow_tf32=False):  # as upstream's set_seed; torch-fast's own
        got = opened.stage.features(prompt, Segment(codes.view(-1).cpu(), phones.view(-1).cpu()), 1.0)
    assert diff(got, eager(plain, codes, phones, None, ge)[0]) <= TOL


def snr_db(got: torch.Tensor, ref: torch.Tensor) -> float:
    return metrics.snr_db(ref.cpu().numpy(), got.float().cpu().numpy())


def test_tf32_front_end_is_closer_to_fp32_than_upstreams_half_precision(plain):
    """The stage's fp16 precision runs the front end with TF32 convs and matmuls; upstream's is_half runs it all in
    fp16: ours must stay at least as close to true fp32."""
    tf32 = TorchFastFrontEnd(plain, tf32=True)
    assert tf32.info.precision == "tf32"
    half = copy.deepcopy(plain).half()
    for seed, (tokens, phones, spec) in enumerate([(250, 100, 400), (120, 60, 300)]):
        codes, phone_ids, refer_spec = inputs(tokens, phones, spec, seed=60 + seed)
        fea, ge = eager(plain, codes, phone_ids, refer_spec)
        with torch.inference_mode():
            half_fea, half_ge = half.decode_encp(codes, phone_ids, refer_spec.half())
        fast_fea, fast_ge = tf32.decode_encp(codes, phone_ids, refer_spec)
        assert snr_db(fast_fea, fea) >= max(snr_db(half_fea, fea), 40.0)
        assert snr_db(fast_ge, ge) >= max(snr_db(half_ge, ge), 40.0)
