"""A v4 stage's resblocks side by side on CUDA streams: the same mean as one after another, also inside a CUDA
graph and with each part compiled."""

import pytest
import torch

from gsv_trt.models.vocoder.generator import ResBlock1
from gsv_trt.runtime.vocoder.concurrent_stage import ConcurrentStage

needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")



def sequential_mean(blocks: list[ResBlock1], x: torch.Tensor) -> torch.Tensor:
    return sum(block(x) for block in blocks) / len(blocks)


def test_on_cpu_the_blocks_run_one_after_another(v4_stage_blocks):
    blocks = v4_stage_blocks(64)
    x = torch.randn(2, 64, 300)
    with torch.no_grad():
        assert torch.allclose(ConcurrentStage(blocks)(x), sequential_mean(blocks, x), atol=1e-6)


@pytest.mark.gpu
@needs_gpu
def test_side_by_side_in_a_cuda_graph_equals_one_after_another(v4_stage_blocks):
    blocks = [b.cuda() for b in v4_stage_blocks(64)]
    stage = ConcurrentStage(blocks)
    static = torch.randn(2, 64, 1000, device="cuda")
    with torch.no_grad(), torch.backends.cudnn.flags(enabled=True, deterministic=True, allow_tf32=False):
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            stage(static)  # warm-up outside the capture
        torch.cuda.current_stream().wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            out = stage(static)
        for seed in (1, 2):  # replays see new input data
            static.copy_(torch.randn(2, 64, 1000, generator=torch.Generator().manual_seed(seed)))
            graph.replay()
            torch.cuda.synchronize()
            assert torch.allclose(out, sequential_mean(blocks, static), rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
@needs_gpu
def test_compiled_parts_give_the_same_mean_and_can_be_bypassed(v4_stage_blocks):
    blocks = [b.cuda() for b in v4_stage_blocks(64, seed=4)]
    stage = ConcurrentStage(blocks)
    stage.compile_parts(None)
    x = torch.randn(1, 64, 512, device="cuda")
    with torch.no_grad(), torch.backends.cudnn.flags(enabled=True, deterministic=True, allow_tf32=False):
        ref = sequential_mean(blocks, x)
        assert torch.allclose(stage(x), ref, rtol=1e-4, atol=1e-5)
        stage.use_compiled = False  # what the runtime does for lengths past its largest bucket
        assert torch.allclose(stage(x), ref, rtol=1e-5, atol=1e-6)
