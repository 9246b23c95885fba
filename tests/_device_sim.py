"""CUDA's rules, simulated on the CPU, for tests on a machine without a GPU.

* :class:`CudaLike`: a CPU tensor that refuses to become a numpy array
  (``np.asarray``, ``.numpy()``) as a CUDA tensor does, until ``.cpu()``
  or ``.to("cpu")`` hands back a plain tensor. Every tensor computed from
  it is a CudaLike too, so a library call that turns a derived tensor into
  numpy without ``.cpu()`` raises the same TypeError as on a GPU.
* the ``meta`` device (torch's shapes-only device) stands for a second
  device: an operation that mixes a meta tensor with a CPU tensor raises
  "Tensor on device cpu is not on the expected device meta!", as CUDA
  raises for cuda + cpu. It suits functions without a host sync (no
  ``float()``/``int()`` of a result), e.g. the functional losses.
* :class:`CudaDeterminism`: a torch function mode that raises where
  ``torch.use_deterministic_algorithms(True)`` raises on CUDA (a floating
  ``cumsum``), which the CPU kernels never do.
"""
import os
import sys

import numpy as np
import torch
from torch.overrides import TorchFunctionMode

MESSAGE = ("can't convert cuda:0 device type tensor to numpy. Use "
           "Tensor.cpu() to copy the tensor to host memory first.")


def _to_cpu(args, kwargs) -> bool:
    for a in list(args[1:]) + [kwargs.get("device")]:
        if isinstance(a, (str, torch.device)) and \
                torch.device(a).type == "cpu":
            return True
    return False


class CudaLike(torch.Tensor):
    """A CPU tensor with a CUDA tensor's refusal to become numpy."""

    def __array__(self, *args, **kwargs):
        raise TypeError(MESSAGE)

    def numpy(self, *args, **kwargs):
        raise TypeError(MESSAGE)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = super().__torch_function__(func, types, args, kwargs)
        leaves = func is torch.Tensor.cpu or (
            func is torch.Tensor.to and _to_cpu(args, kwargs))
        if leaves and isinstance(out, torch.Tensor):
            return out.as_subclass(torch.Tensor)
        return out


def cuda_like(x) -> CudaLike:
    """``x`` (array or tensor) as a :class:`CudaLike` tensor."""
    return torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor)
                           else x).as_subclass(CudaLike)


def _nondeterministic_on_cuda(name, args, kwargs) -> bool:
    """Is this call one that ``torch.use_deterministic_algorithms(True)``
    refuses on CUDA (torch 2.13's list, the entries dml could meet)?"""
    first = args[0] if args else None
    if name in ("cumsum", "cumsum_"):
        dtype = kwargs.get("dtype") or getattr(first, "dtype", None)
        return dtype is not None and (dtype.is_floating_point or
                                      dtype.is_complex)
    if name in ("histc", "put_"):
        return True
    if name in ("nll_loss", "cross_entropy"):     # only the 2-D (image)
        return getattr(first, "ndim", 0) > 2      # kernel alerts on CUDA
    if name == "bincount":
        return (kwargs.get("weights") is not None or
                (len(args) > 1 and args[1] is not None))
    if name == "median":
        return len(args) > 1 or "dim" in kwargs     # with indices
    if name in ("scatter_reduce", "scatter_reduce_"):
        return kwargs.get("reduce", args[3] if len(args) > 3 else "") \
            == "prod"
    return False


class CudaDeterminism(TorchFunctionMode):
    """Raise where deterministic mode raises on CUDA (a floating cumsum,
    nll_loss / cross_entropy of (N, C, d1, ...) inputs, histc, weighted
    bincount, median with indices, put_, scatter_reduce "prod"): the CPU
    kernels never do."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        if _nondeterministic_on_cuda(name, args, kwargs):
            raise RuntimeError(f"{name} does not have a deterministic "
                               "implementation on CUDA")
        return func(*args, **kwargs)


#: Tensor methods and torch functions that wait for the device: they hand
#: a value to Python, or size an output by the data.
SYNCING = {"item", "__int__", "__float__", "__bool__", "__index__",
           "tolist", "numpy", "nonzero", "argwhere", "masked_select",
           "unique", "unique_consecutive", "bincount"}


_HOST_SIDE = os.sep + os.path.join("torch", "optim") + os.sep


class SyncCounter(TorchFunctionMode):
    """Count the host synchronisations a CUDA run would make, on the CPU.

    A call counts when it is in :data:`SYNCING`, or is ``torch.where``
    with one argument, ``repeat_interleave`` with tensor repeats and no
    ``output_size``, or indexing (read or write) with a boolean tensor.
    ``counts`` maps each name to its number of calls. Calls from
    ``torch.optim`` are not counted: Adam's step counters live on the host
    (a CPU tensor per parameter) unless ``capturable=True``.
    """

    def __init__(self):
        super().__init__()
        self.counts = {}

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def _syncs(self, name, args, kwargs) -> bool:
        if name in SYNCING:
            return True
        if name == "where":
            return len(args) + len(kwargs) == 1
        if name == "repeat_interleave":
            return isinstance(args[1] if len(args) > 1 else
                              kwargs.get("repeats"), torch.Tensor) and \
                "output_size" not in kwargs
        if name in ("__getitem__", "__setitem__", "index_put_",
                    "index_put"):
            idx = args[1] if len(args) > 1 else None
            idx = idx if isinstance(idx, (tuple, list)) else (idx,)
            return any(isinstance(i, torch.Tensor) and
                       i.dtype == torch.bool for i in idx)
        return False

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        caller = sys._getframe(1).f_code.co_filename
        if _HOST_SIDE not in caller and self._syncs(name, args, kwargs):
            self.counts[name] = self.counts.get(name, 0) + 1
        return func(*args, **kwargs)
