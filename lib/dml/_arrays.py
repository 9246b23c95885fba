"""Arrays in, arrays out: the ground floor every public ``dml`` function stands on.

A public function accepts numpy arrays (or anything ``numpy.asarray`` takes)
and torch tensors. It computes in torch, on the device of the tensor it was
given, and hands back the kind it received: numpy in, numpy out; a CUDA tensor
in, a CUDA tensor out. Floating dtypes are kept (float32 stays float32);
integers and booleans become float64, numpy's default.

The validators raise ``ValueError`` with a message that names the argument,
says what is wrong with it and how to fix it, so a student reading the error
knows what to change.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["to_tensor", "to_numpy", "like_input", "check_matrix",
           "check_vector", "check_same_features", "check_labels",
           "check_positive_int", "check_psd", "check_choice",
           "resolve_device", "to_device_of", "BoundedIndices"]


class BoundedIndices(tuple):
    """A tuple of index tensors known to lie in ``0..batch_size - 1``.

    dml's miners return their index tuples as this type: it is a plain
    tuple of tensors for every other purpose (unpacking, ``len``, indexing,
    slicing and ``==`` behave as for ``tuple``; a slice or a tuple built
    from it is a plain tuple again). A loss given one for a batch of
    ``batch_size`` rows skips its index bounds check, which would cost a
    host synchronisation per step on a GPU: the miner built the indices
    from that batch, so they are in range by construction. Changing the
    tensors in place voids that promise; build a new tuple instead.
    """

    def __new__(cls, tensors, batch_size: int):
        self = super().__new__(cls, tensors)
        self.batch_size = int(batch_size)
        return self

    def __reduce__(self):
        return (type(self), (tuple(self), self.batch_size))


def _float_dtype(t: torch.Tensor) -> torch.Tensor:
    """Return ``t`` as a floating tensor (integers and bools become float64)."""
    if t.is_floating_point():
        return t
    return t.to(torch.float64)


def to_tensor(x, name: str, *, device=None, dtype=None,
              floating: bool = True) -> torch.Tensor:
    """Convert ``x`` (numpy array, list, scalar or tensor) to a torch tensor.

    A tensor keeps its device unless ``device`` is given; numpy data lands on
    the CPU without a copy where possible. ``name`` is the argument name used
    in error messages.
    """
    if isinstance(x, torch.Tensor):
        t = x
    else:
        try:
            a = np.asarray(x)
        except Exception as exc:  # ragged lists, objects, ...
            raise ValueError(f"{name} could not be converted to an array "
                             f"({exc}); pass a numpy array or a torch "
                             "tensor.") from None
        if a.dtype == object or a.dtype.kind in "USV":
            raise ValueError(f"{name} has dtype {a.dtype}; pass numbers "
                             "(a float array or tensor).")
        # ascontiguousarray would turn a 0-d array (a scalar) into shape (1,)
        t = torch.from_numpy(a if a.flags.c_contiguous
                             else np.ascontiguousarray(a))
    if t.is_complex():
        raise ValueError(f"{name} is complex: complex data not supported "
                         "(pass real numbers).")
    if floating:
        t = _float_dtype(t)
    if dtype is not None:
        t = t.to(dtype)
    if device is not None:
        t = t.to(device)
    return t


def to_device_of(x, ref: torch.Tensor, name: str, *,
                 dtype=None) -> torch.Tensor:
    """``x`` (numpy, list, or a tensor on any device) on ``ref``'s device.

    For the secondary arguments of a function (labels, masks, index
    pairs) whose first argument is a tensor: the computation runs where
    ``ref`` lives, so a numpy ``labels`` next to CUDA logits is copied
    there once. ``dtype`` converts too (e.g. int32 labels to int64);
    ``None`` keeps the dtype (integers stay integers).
    """
    t = to_tensor(x, name, floating=False)
    return t.to(device=ref.device, dtype=dtype)


def to_numpy(t):
    """Return ``t`` as a numpy array (detached, moved to the CPU)."""
    if isinstance(t, torch.Tensor):
        return t.detach().cpu().numpy()
    return np.asarray(t)


def like_input(result: torch.Tensor, reference):
    """Hand ``result`` back in the kind of ``reference``.

    numpy (or list) in gives numpy out; a tensor in gives the tensor itself.
    A 0-d result for numpy input becomes a Python float.
    """
    if isinstance(reference, torch.Tensor):
        return result
    out = to_numpy(result)
    if out.ndim == 0:
        return out.item()
    return out


def _check_finite(t: torch.Tensor, name: str) -> None:
    """Raise if t holds NaN or +-inf.

    The sum of the entries is finite whenever every entry is, unless it
    overflows; so the sum (one vectorised pass, ~7x cheaper than
    ``isfinite(t).all()`` on a CPU batch) settles the common case and the
    entry-wise test runs only when the sum is not finite.
    """
    if not t.is_floating_point() or bool(torch.isfinite(t.sum())):
        return
    if not bool(torch.isfinite(t).all()):
        n_bad = int((~torch.isfinite(t)).sum())
        raise ValueError(f"{name} contains {n_bad} NaN or infinite "
                         "value(s); remove or impute them first.")


def check_matrix(t: torch.Tensor, name: str, *, allow_empty=False):
    """Require a finite 2-D (n_samples, n_features) tensor."""
    if t.ndim != 2:
        hint = (" Use x.reshape(1, -1) for a single sample."
                if t.ndim == 1 else "")
        raise ValueError(f"{name} must be 2-D (n_samples, n_features), got "
                         f"shape {tuple(t.shape)}.{hint}")
    if not allow_empty and (t.shape[0] == 0 or t.shape[1] == 0):
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)}); it needs "
                         "at least one sample and one feature.")
    _check_finite(t, name)
    return t


def check_vector(t: torch.Tensor, name: str):
    """Require a finite, non-empty 1-D tensor."""
    if t.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(t.shape)}.")
    if t.shape[0] == 0:
        raise ValueError(f"{name} is empty; it needs at least one entry.")
    _check_finite(t, name)
    return t


def check_same_features(A: torch.Tensor, B: torch.Tensor,
                        name_a: str, name_b: str) -> None:
    """Require two matrices with the same number of columns."""
    if A.shape[-1] != B.shape[-1]:
        raise ValueError(f"{name_a} has {A.shape[-1]} features but {name_b} "
                         f"has {B.shape[-1]}; both must have the same "
                         "number of columns.")


def check_labels(y, n_samples: int, name: str = "y",
                 device=None) -> torch.Tensor:
    """Return labels as a 1-D int64 tensor with one entry per sample.

    Labels may be any integers (they need not be 0..C-1) or strings.
    """
    if not isinstance(y, torch.Tensor):
        a = np.asarray(y)
        if a.dtype.kind in "USO":  # class names: encode them
            a = np.unique(a, return_inverse=True)[1]
        y = torch.from_numpy(np.ascontiguousarray(a))
    if y.ndim != 1:
        raise ValueError(f"{name} must be 1-D (one label per sample), got "
                         f"shape {tuple(y.shape)}.")
    if y.shape[0] != n_samples:
        raise ValueError(f"{name} has {y.shape[0]} labels but X has "
                         f"{n_samples} rows; pass one label per row.")
    if y.is_floating_point():
        if not bool(torch.isfinite(y).all()) or \
                not bool((y == y.round()).all()):
            raise ValueError(f"{name} must hold integer class labels; got "
                             "non-integer or NaN values.")
    y = y.to(torch.int64)
    if device is not None:
        y = y.to(device)
    return y


def check_choice(value, name: str, choices, *, alternative: str = ""):
    """Require ``value`` to be one of ``choices`` (names of variants).

    The message lists the choices, plus ``alternative`` (e.g. " or pass an
    array") where something other than a name is also accepted.
    """
    if value not in choices:
        raise ValueError(f"{name}={value!r} is not supported; choose one of "
                         f"{', '.join(map(repr, choices))}{alternative}.")
    return value


def check_positive_int(value, name: str, *, maximum=None) -> int:
    """Require an integer >= 1 (and <= ``maximum`` when given)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{name} must be a positive integer, got "
                         f"{value!r}.")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value}.")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}={value} is larger than allowed "
                         f"({maximum}); pick {name} <= {maximum}.")
    return int(value)


def check_psd(M: torch.Tensor, name: str = "M", *, tol: float = 1e-8):
    """Require a finite, square, symmetric, positive semi-definite matrix.

    Symmetry and the eigenvalues are checked with a tolerance relative to
    the largest absolute eigenvalue, so round-off does not trip the check.
    Use :func:`dml.project_psd` to repair a matrix that fails it.
    """
    if M.ndim != 2 or M.shape[0] != M.shape[1]:
        raise ValueError(f"{name} must be a square (D, D) matrix, got shape "
                         f"{tuple(M.shape)}.")
    if M.shape[0] == 0:
        raise ValueError(f"{name} is empty; it must be (D, D) with D >= 1.")
    _check_finite(M, name)
    scale = float(M.abs().max()) or 1.0
    if float((M - M.T).abs().max()) > 1e-6 * scale:
        raise ValueError(f"{name} is not symmetric; use (M + M.T) / 2 or "
                         "dml.project_psd(M).")
    eig_min = float(torch.linalg.eigvalsh(M.to(torch.float64)).min())
    if eig_min < -max(tol, 1e-6 * scale):
        raise ValueError(f"{name} is not positive semi-definite (smallest "
                         f"eigenvalue {eig_min:.3g}); project it with "
                         "dml.project_psd(M) or pass a transform W "
                         "(M = W.T @ W).")
    return M


def resolve_device(device=None) -> torch.device:
    """``None`` or ``"auto"`` means CUDA when available, else the CPU."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)
