"""Device selection: which MLX device runs the products."""
import os
import warnings

import mlx.core as mx


def gpu_available():
    try:
        return mx.is_available(mx.gpu)
    except Exception:  # pragma: no cover - very old MLX
        return False


def use_gpu():
    """Run on MLX's GPU (Metal or CUDA); on a machine without one, warn and
    stay on the CPU so notebooks written on a Mac still run."""
    if gpu_available():
        mx.set_default_device(mx.gpu)
        return mx.gpu
    warnings.warn("no GPU is available to MLX here; staying on the CPU",
                  RuntimeWarning, stacklevel=2)
    mx.set_default_device(mx.cpu)
    return mx.cpu


def use_cpu():
    mx.set_default_device(mx.cpu)
    return mx.cpu


def on_gpu(dtype=None):
    """True when work of ``dtype`` would run on the GPU (never float64)."""
    return mx.default_device().type == mx.DeviceType.gpu and dtype != mx.float64


def stream_for(dtype):
    """float64 always runs on the CPU stream: MLX refuses it on GPUs."""
    return mx.cpu if dtype == mx.float64 else mx.default_device()


_GPU = mx.DeviceType.gpu
# MLX's device types are single objects: `is` costs 0.3 us where `==` costs 1.0
# (asked on nearly every op); `==` where a build would not keep them single
_SAME = (lambda a, b: a is b) if mx.Device(mx.DeviceType.cpu).type is mx.DeviceType.cpu \
    else (lambda a, b: a == b)


def gpu_default():
    return _SAME(mx.default_device().type, _GPU)


# None: follow the default device; True (tests, or MSS_KEEP_IN_MLX=1) runs the
# device rule on a CPU
KEEP_IN_MLX = {"1": True, "0": False}.get(os.environ.get("MSS_KEEP_IN_MLX", ""))


def keep_in_mlx():
    """Whether free values (no transformation sees them) stay in MLX for ops
    that scipy would otherwise do on the host: on a GPU they live on the
    device, and a host round trip of the values costs more than the op."""
    return gpu_default() if KEEP_IN_MLX is None else KEEP_IN_MLX


def cpu_stream():
    """The stream float64 work runs on while the default device is a GPU."""
    return mx.stream(mx.cpu)
