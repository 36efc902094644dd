"""The little of CUDA a TensorRT engine needs, through cuda-python: device query, streams, device and pinned host
memory, async copies. Every call is checked, so a CUDA failure surfaces as an exception naming the call and the
error, instead of a status code nobody reads. Importing this module does not touch the driver.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
from dataclasses import dataclass

import numpy as np
from cuda.bindings import runtime as cudart

from ..errors import GsvTrtError


class CudaError(GsvTrtError):
    """A CUDA runtime call failed; the message names the call and CUDA's own error name and text."""

    def __init__(self, call: str, err: cudart.cudaError_t):
        self.call = call
        self.code = err
        _, name = cudart.cudaGetErrorName(err)
        _, text = cudart.cudaGetErrorString(err)
        super().__init__(f"CUDA {call}: {name.decode()} ({text.decode()})")


def check(call: str, result: tuple):
    """Unwrap a cuda-python result tuple ``(err, *values)``: raise on error, else the value(s)."""
    err, *values = result
    if err != cudart.cudaError_t.cudaSuccess:
        raise CudaError(call, err)
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def _version(packed: int) -> str:
    """CUDA packs versions as 1000*major + 10*minor (13040 -> "13.4"); 0 means none."""
    return f"{packed // 1000}.{packed % 1000 // 10}" if packed else "none"


@dataclass(frozen=True)
class GpuInfo:
    """The GPU an engine would run on, and the CUDA software around it."""

    index: int
    name: str
    compute_capability: tuple[int, int]
    total_memory: int  # bytes
    driver: str  # highest CUDA version the driver supports, e.g. "13.0"
    runtime: str  # CUDA runtime cuda-python loaded, e.g. "13.4"

    @property
    def cc(self) -> str:
        """Compute capability as written in sidecars and support matrices: "9.0", "8.6"."""
        return f"{self.compute_capability[0]}.{self.compute_capability[1]}"

    def describe(self) -> str:
        return f"{self.name} (compute capability {self.cc})"


def driver_version() -> str:
    """The CUDA version the installed driver supports, or "none" without a driver."""
    return _version(check("cudaDriverGetVersion", cudart.cudaDriverGetVersion()))


def runtime_version() -> str:
    return _version(check("cudaRuntimeGetVersion", cudart.cudaRuntimeGetVersion()))


def no_gpu_reason() -> str | None:
    """Why no CUDA GPU can be used here (no driver, no device), or None when one can."""
    err, count = cudart.cudaGetDeviceCount()
    if err == cudart.cudaError_t.cudaSuccess and count > 0:
        return None
    if err == cudart.cudaError_t.cudaSuccess:
        return "no CUDA GPU (the driver reports none)"
    if driver_version() == "none":
        return "no CUDA GPU (no NVIDIA driver on this machine)"
    return f"no usable CUDA GPU ({CudaError('cudaGetDeviceCount', err).args[0]})"


def gpu_info(index: int = 0) -> GpuInfo | None:
    """Name, compute capability, memory and CUDA versions of GPU ``index``; None on a machine without one."""
    if no_gpu_reason() is not None:
        return None
    count = check("cudaGetDeviceCount", cudart.cudaGetDeviceCount())
    if not 0 <= index < count:
        raise GsvTrtError(f"GPU {index}: no such device ({count} present)")
    props = check("cudaGetDeviceProperties", cudart.cudaGetDeviceProperties(index))
    major = check("cudaDeviceGetAttribute", cudart.cudaDeviceGetAttribute(
        cudart.cudaDeviceAttr.cudaDevAttrComputeCapabilityMajor, index))
    minor = check("cudaDeviceGetAttribute", cudart.cudaDeviceGetAttribute(
        cudart.cudaDeviceAttr.cudaDevAttrComputeCapabilityMinor, index))
    name = props.name.split(b"\0", 1)[0].decode(errors="replace")
    return GpuInfo(index, name, (major, minor), int(props.totalGlobalMem), driver_version(), runtime_version())


def set_device(index: int) -> None:
    check("cudaSetDevice", cudart.cudaSetDevice(index))


def synchronize_stream(handle: int) -> None:
    """Wait for a stream known only by its handle (e.g. torch's ``cuda_stream``)."""
    check("cudaStreamSynchronize", cudart.cudaStreamSynchronize(handle))


class _Owned:
    """A CUDA resource freed by its ``close()``, at the end of a ``with`` block, or (last resort) when collected."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self):
        with contextlib.suppress(Exception):  # at interpreter exit CUDA may already be gone
            self.close()


class Stream(_Owned):
    """A non-blocking CUDA stream; ``handle`` is the integer TensorRT's ``execute_async_v3`` takes."""

    def __init__(self):
        self._stream = check("cudaStreamCreateWithFlags",
                             cudart.cudaStreamCreateWithFlags(cudart.cudaStreamNonBlocking))

    @property
    def handle(self) -> int:
        return int(self._stream)

    def synchronize(self) -> None:
        check("cudaStreamSynchronize", cudart.cudaStreamSynchronize(self._stream))

    def close(self) -> None:
        if self._stream is not None:
            check("cudaStreamDestroy", cudart.cudaStreamDestroy(self._stream))
            self._stream = None


class DeviceBuffer(_Owned):
    """``nbytes`` of GPU memory (cudaMalloc), freed by ``close`` or on exit of a ``with`` block."""

    def __init__(self, nbytes: int):
        if nbytes <= 0:
            raise ValueError(f"DeviceBuffer size must be positive, got {nbytes}")
        self.nbytes = int(nbytes)
        self._ptr = check("cudaMalloc", cudart.cudaMalloc(self.nbytes))

    @property
    def ptr(self) -> int:
        if self._ptr is None:
            raise GsvTrtError("DeviceBuffer: used after close()")
        return int(self._ptr)

    def copy_from_host_async(self, host: "PinnedHostBuffer", nbytes: int, stream: Stream) -> None:
        """Start copying the first ``nbytes`` of ``host`` here; pinned memory keeps the copy truly asynchronous."""
        self._check_size(nbytes, host)
        check("cudaMemcpyAsync", cudart.cudaMemcpyAsync(self.ptr, host.ptr, nbytes,
                                                         cudart.cudaMemcpyKind.cudaMemcpyHostToDevice, stream.handle))

    def copy_to_host_async(self, host: "PinnedHostBuffer", nbytes: int, stream: Stream) -> None:
        """Start copying the first ``nbytes`` of this buffer into ``host``; read it after ``stream.synchronize()``."""
        self._check_size(nbytes, host)
        check("cudaMemcpyAsync", cudart.cudaMemcpyAsync(host.ptr, self.ptr, nbytes,
                                                         cudart.cudaMemcpyKind.cudaMemcpyDeviceToHost, stream.handle))

    def _check_size(self, nbytes: int, host: "PinnedHostBuffer") -> None:
        if not 0 < nbytes <= min(self.nbytes, host.nbytes):
            raise ValueError(f"copy of {nbytes} bytes between buffers of {self.nbytes} (device) and "
                             f"{host.nbytes} (host) bytes")

    def close(self) -> None:
        if self._ptr is not None:
            check("cudaFree", cudart.cudaFree(self._ptr))
            self._ptr = None


class PinnedHostBuffer(_Owned):
    """``nbytes`` of page-locked host memory (cudaMallocHost), seen from numpy through ``array``."""

    def __init__(self, nbytes: int):
        if nbytes <= 0:
            raise ValueError(f"PinnedHostBuffer size must be positive, got {nbytes}")
        self.nbytes = int(nbytes)
        self._ptr = check("cudaMallocHost", cudart.cudaMallocHost(self.nbytes))
        self._bytes = np.ctypeslib.as_array((ctypes.c_uint8 * self.nbytes).from_address(int(self._ptr)))

    @property
    def ptr(self) -> int:
        if self._ptr is None:
            raise GsvTrtError("PinnedHostBuffer: used after close()")
        return int(self._ptr)

    def array(self, shape: tuple[int, ...], dtype=np.float32) -> np.ndarray:
        """A numpy view of the start of the buffer (no copy); valid until ``close``."""
        self.ptr  # refuses after close
        dtype = np.dtype(dtype)
        nbytes = math.prod(shape) * dtype.itemsize
        if nbytes > self.nbytes:
            raise ValueError(f"array of {nbytes} bytes does not fit a pinned buffer of {self.nbytes} bytes")
        return self._bytes[:nbytes].view(dtype).reshape(shape)

    def close(self) -> None:
        if self._ptr is not None:
            self._bytes = None
            check("cudaFreeHost", cudart.cudaFreeHost(self._ptr))
            self._ptr = None
