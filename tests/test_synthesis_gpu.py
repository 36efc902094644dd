"""The synthesis stage on a GPU: upstream's numbers with eager fp32 on CUDA, the full-size stage on torch-fast close to
eager fp32, and streaming's time to first audio (printed; run with -s to see it)."""

from __future__ import annotations

import copy
import time

import numpy as np
import pytest
import torch

from gsv_trt.models.sovits.reference_audio import load_reference
from gsv_trt.synthesis import Segment, StreamPlan, SynthesisStage, cfm_runner, vocoder_runner
from gsv_trt.synthesis.loader import open_stage

from test_synthesis_stage import TOL, _stage_and_prompt, clip_path, golden, golden_parts, segments  # noqa: F401

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
pytestmark = [pytest.mark.gpu, needs_gpu]


@pytest.fixture(autouse=True)
def no_tf32():
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@pytest.mark.parametrize("path", ["sequential", "batched"])
def test_eager_fp32_on_cuda_equals_upstream(path, clip_path):
    # the golden weights on the GPU; a CPU generator draws the golden noise and the stage moves it to the GPU
    g = golden("v4")
    frontend, cfm, vocoder = golden_parts("v4")
    cuda = torch.device("cuda")
    chunking = _stage_and_prompt("v4", "small", clip_path)[0].chunking
    stage = SynthesisStage("v4", copy.deepcopy(frontend), cfm_runner(cfm, "eager", "fp32", cuda),
                           vocoder_runner(vocoder, "eager", "fp32", cuda), cuda, chunking)
    prompt = stage.prompt(load_reference(clip_path, "v4"), torch.from_numpy(g["prompt_codes"]),
                          torch.from_numpy(g["prompt_phones"]))
    audio = stage.synthesize(prompt, segments(g, "small"), path, 8, float(g["small/speed"]),
                             torch.Generator().manual_seed(int(g["small/seed"])))
    for i, a in enumerate(audio):
        assert a.device.type == "cuda"
        assert np.abs(a.cpu().numpy() - g[f"small/{path}/audio{i}"]).max() <= 10 * TOL


def request(seconds: float, seed: int = 0) -> list[Segment]:
    """v4 segments (two) worth ``seconds`` of audio: 25 tokens a second."""
    gen = torch.Generator().manual_seed(seed)
    tokens = int(seconds * 25)
    sizes = (tokens // 2, tokens - tokens // 2)
    return [Segment(torch.randint(0, 1024, (n,), generator=gen), torch.randint(0, 732, (n // 3,), generator=gen))
            for n in sizes]


@pytest.fixture(scope="module")
def full_stages():
    """Full-size v4 with random weights: torch-fast fp16 and eager fp32, both on the GPU."""
    return (open_stage("v4", runtime="torch-fast", precision="fp16", device="cuda").stage,
            open_stage("v4", runtime="eager", precision="fp32", device="cuda").stage)


def test_full_size_torch_fast_stage_follows_eager_fp32(full_stages, clip_path):
    fast, eager = full_stages
    segs = request(10.0)
    outs = []
    for stage in (fast, eager):
        prompt = stage.prompt(load_reference(clip_path, "v4"), torch.arange(75) * 7, torch.arange(30) * 11)
        outs.append(torch.cat(stage.synthesize(prompt, segs, "batched", 8, 1.0, torch.Generator().manual_seed(1))))
    a, b = (o.double().cpu() for o in outs)
    assert a.shape == b.shape and torch.isfinite(a).all()
    assert float(torch.corrcoef(torch.stack([a, b]))[0, 1]) >= 0.9


def test_stream_time_to_first_audio(full_stages, clip_path):
    fast, _ = full_stages
    prompt = fast.prompt(load_reference(clip_path, "v4"), torch.arange(75) * 7, torch.arange(30) * 11)
    segs = request(10.0)
    plan = StreamPlan(first=40)
    for _ in range(2):  # the first pass captures the CUDA graphs of these shapes
        start = time.perf_counter()
        stream = fast.stream(prompt, segs, 8, 1.0, torch.Generator().manual_seed(2), plan)
        first = next(stream).cpu()
        ttfa = time.perf_counter() - start
        rest = [p.cpu() for p in stream]
    total = sum(len(p) for p in [first, *rest])
    print(f"\nv4 torch-fast fp16, 8 steps, first chunk {plan.first} frames: time to first audio {ttfa * 1000:.1f} ms "
          f"(front end of the segment included, prompt prepared before), {total / 48000:.2f} s of audio")
    assert len(first) > 0 and total == sum(4 * len(s.codes) for s in segs) * 480
