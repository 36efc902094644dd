"""The cuda-python layer under the TensorRT runtime: device query, streams, device and pinned memory, async copies.
Run on a real GPU (``pytest -m gpu``); without one, only the "no GPU" behaviour is checked."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from cuda.bindings import runtime as cudart

from gsv_trt.errors import GsvTrtError
from gsv_trt.runtime import cuda

gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks behaviour on a machine without a GPU")
def test_without_a_gpu_the_query_says_why_and_allocation_fails_cleanly():
    assert cuda.gpu_info() is None
    assert cuda.no_gpu_reason().startswith("no CUDA GPU") or cuda.no_gpu_reason().startswith("no usable CUDA GPU")
    with pytest.raises(cuda.CudaError, match=r"^CUDA cudaMalloc: cudaError\w+ \(.+\)$"):
        cuda.DeviceBuffer(1024)


@pytest.mark.gpu
@gpu
def test_gpu_query_matches_torch():
    info = cuda.gpu_info(0)
    assert info.name == torch.cuda.get_device_name(0)
    assert info.compute_capability == torch.cuda.get_device_capability(0)
    assert info.cc == "{}.{}".format(*info.compute_capability)
    assert info.total_memory == torch.cuda.get_device_properties(0).total_memory
    assert info.driver != "none" and info.runtime != "none"
    assert cuda.no_gpu_reason() is None
    with pytest.raises(GsvTrtError, match="no such device"):
        cuda.gpu_info(torch.cuda.device_count())


@pytest.mark.gpu
@gpu
@pytest.mark.parametrize("shape", [(1, 100, 1), (3, 100, 937), (1, 1, 480 * 16384)])
def test_round_trip_through_pinned_and_device_memory(shape):
    data = np.random.default_rng(1).standard_normal(shape).astype(np.float32)
    with cuda.Stream() as stream, cuda.PinnedHostBuffer(data.nbytes) as host_in, \
            cuda.PinnedHostBuffer(data.nbytes) as host_out, cuda.DeviceBuffer(data.nbytes) as device:
        np.copyto(host_in.array(shape), data)
        device.copy_from_host_async(host_in, data.nbytes, stream)
        device.copy_to_host_async(host_out, data.nbytes, stream)  # same stream: ordered after the upload
        stream.synchronize()
        np.testing.assert_array_equal(host_out.array(shape), data)


@pytest.mark.gpu
@gpu
def test_device_buffer_is_real_device_memory():
    """Bytes written through the layer are what torch reads at that address on the GPU."""
    data = np.arange(4096, dtype=np.float32)
    with cuda.Stream() as stream, cuda.PinnedHostBuffer(data.nbytes) as host, \
            cuda.DeviceBuffer(data.nbytes) as device:
        np.copyto(host.array(data.shape), data)
        device.copy_from_host_async(host, data.nbytes, stream)
        stream.synchronize()
        seen = torch.empty(4096, dtype=torch.float32, device="cuda")
        cuda.check("cudaMemcpy", cudart.cudaMemcpy(seen.data_ptr(), device.ptr, data.nbytes,
                                                    cudart.cudaMemcpyKind.cudaMemcpyDeviceToDevice))
        assert torch.equal(seen.cpu(), torch.from_numpy(data))


@pytest.mark.gpu
@gpu
def test_copies_wait_for_torch_work_on_a_shared_stream():
    """A torch stream's handle works with the layer: a copy enqueued after a torch kernel sees its result."""
    torch_stream = torch.cuda.Stream()
    with torch.cuda.stream(torch_stream):
        x = torch.full((1 << 20,), 3.0, device="cuda") * 2
    with cuda.PinnedHostBuffer(x.numel() * 4) as host:
        cuda.check("cudaMemcpyAsync", cudart.cudaMemcpyAsync(
            host.ptr, x.data_ptr(), x.numel() * 4, cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost,
            torch_stream.cuda_stream))
        cuda.synchronize_stream(torch_stream.cuda_stream)
        assert (host.array((x.numel(),)) == 6.0).all()


@pytest.mark.gpu
@gpu
def test_errors_are_exceptions_with_cuda_names():
    with pytest.raises(cuda.CudaError, match="cudaMalloc: cudaErrorMemoryAllocation"):
        cuda.DeviceBuffer(1 << 50)  # a petabyte
    with cuda.DeviceBuffer(64) as small, cuda.PinnedHostBuffer(32) as host, cuda.Stream() as stream:
        with pytest.raises(ValueError, match="copy of 64 bytes"):
            small.copy_from_host_async(host, 64, stream)
        with pytest.raises(ValueError, match="does not fit"):
            host.array((16,), np.float32)
    with pytest.raises(GsvTrtError, match="used after close"):
        small.ptr
    with pytest.raises(GsvTrtError, match="used after close"):
        host.array((1,))
