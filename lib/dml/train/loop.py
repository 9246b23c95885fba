"""A small, seeded training loop for embedding networks (book, chapter 3).

data -> P x K batch -> model -> embeddings -> miner -> index tuples -> loss
-> Adam step; :func:`embed` then maps a whole data set for the kNN and the
metrics chapters.
"""
from __future__ import annotations

import numpy as np
import torch
from tqdm.auto import tqdm

from .._arrays import check_labels, check_positive_int, resolve_device, \
    to_tensor
from ..samplers import PKSampler

__all__ = ["fit_embedding", "embed", "default_sampler"]


def _model_dtype(model: torch.nn.Module) -> torch.dtype:
    p = next(model.parameters(), None)
    return torch.float32 if p is None else p.dtype


def _model_device(model: torch.nn.Module) -> torch.device:
    p = next(model.parameters(), None)
    return torch.device("cpu") if p is None else p.device


AMP_DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16}


def _amp_dtype(amp, device: torch.device):
    """The autocast dtype of ``fit_embedding(amp=...)``, None for off."""
    if amp is False or amp is None:
        return None
    if amp is True:          # bfloat16 where it runs, float16 on old GPUs
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            return torch.float16
        return torch.bfloat16
    if amp not in AMP_DTYPES:
        raise ValueError(f"amp={amp!r} is not supported; use False, True, "
                         "'bfloat16' or 'float16'.")
    if amp == "float16" and device.type == "cpu":
        raise ValueError("amp='float16' needs a GPU; on the CPU use "
                         "amp=True (bfloat16).")
    return AMP_DTYPES[amp]


def default_sampler(y, seed: int | None = 0) -> PKSampler:
    r"""P x K sampler for ``y``: P = min(C, 8) classes, K = 64 // P (>= 2).

    .. math::

       P = \min(C, 8), \qquad K = \max(2, \lfloor 64 / P \rfloor).

    The sampler :func:`fit_embedding` uses by default; taught with
    :class:`dml.PKSampler` in :doc:`chapter 3 </book/chapters/03_deep_losses>`.
    """
    C = len(np.unique(np.asarray(y.cpu() if isinstance(y, torch.Tensor)
                                 else y)))
    P = min(C, 8)
    return PKSampler(y, P=P, K=max(2, 64 // P), seed=seed)


def fit_embedding(model: torch.nn.Module, X, y, loss, miner=None,
                  sampler=None, *, epochs: int = 10, lr: float = 1e-3,
                  device=None, seed: int | None = 0,
                  weight_decay: float = 0.0, verbose: bool = True,
                  amp=False) -> dict:
    r"""Train ``model`` so that its embeddings make ``loss`` small.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`, used in
    chapters 4 and 6. Every step is one Adam step on the loss of a batch B of
    embeddings z = f(x),

    .. math::

       \theta \leftarrow \operatorname{Adam}\big(\theta,\
           \nabla_\theta\, \mathcal{L}(f_\theta(x_B),\ y_B,\
           \operatorname{miner}(f_\theta(x_B), y_B))\big).

    In words: take a batch of indices from ``sampler``, embed it, let
    ``miner(embeddings, labels)`` choose index tuples (if a miner is
    given), compute ``loss(embeddings, labels, indices_tuple)`` (or
    ``loss(embeddings, labels)`` without a miner) and take an Adam step.

    Parameters
    ----------
    model : torch.nn.Module
        Maps (B, ...) inputs to (B, out_dim) embeddings.
    X : (N, ...) array or tensor
        Inputs, cast to the model's dtype.
    y : (N,) labels
    loss : callable
        A dml.losses module (or any callable with that signature); its own
        parameters, if any (proxies, class vectors), are trained too.
    miner : callable or None
        A dml.miners miner, or None.
    sampler : iterable of index lists, optional
        A batch sampler, re-iterated every epoch; default
        :func:`dml.train.default_sampler` seeded with ``seed``.
    epochs, lr, weight_decay : int, float, float
        Passes over the sampler; Adam's settings.
    device : str or None
        "cpu", "cuda", ...; None: CUDA when available.
    seed : int or None
        ``torch.manual_seed(seed)`` at the start (dropout and the like) and
        the default sampler's seed. On the CPU two calls with the same
        seed, model initialisation and data give identical histories.
    verbose : bool
        Show a tqdm progress bar over epochs.
    amp : bool or {"bfloat16", "float16"}
        Mixed precision: the model, the miner and the loss run under
        ``torch.autocast`` (True: bfloat16, or float16 on a GPU without
        bfloat16). Matrix products run in half precision; the losses
        reduce in float32. float16 scales the loss
        (``torch.amp.GradScaler``) against underflow. Parameters and
        Adam's state stay float32.

    Returns
    -------
    dict of lists
        ``loss`` (mean loss per epoch), ``step_loss`` (per step) and
        ``n_tuples`` (tuples the miner returned per step; -1 without a
        miner).

    Notes
    -----
    The model is trained in place and left in eval mode on ``device``. A
    step whose loss does not require a gradient (no tuple mined) is
    recorded but takes no optimiser step. The step losses stay on the
    device until the end of the epoch (one host synchronisation per
    epoch, not per step).
    """
    epochs = check_positive_int(epochs, "epochs")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}.")
    if seed is not None:
        torch.manual_seed(int(seed))
    device = resolve_device(device)
    amp_dtype = _amp_dtype(amp, device)
    scaler = torch.amp.GradScaler(device.type,
                                  enabled=amp_dtype == torch.float16)
    model.to(device)
    Xt = to_tensor(X, "X", device=device, dtype=_model_dtype(model))
    yt = check_labels(y, Xt.shape[0], "y", device=device)
    sampler = default_sampler(yt, seed) if sampler is None else sampler
    # losses with learnable parts (proxy-anchor's proxies, ArcFace's class
    # vectors, uncertainty weights) are trained with the model
    params = list(model.parameters())
    if isinstance(loss, torch.nn.Module):
        loss.to(device)
        params += list(loss.parameters())
    opt = torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    history = {"loss": [], "step_loss": [], "n_tuples": []}
    model.train()
    bar = tqdm(range(epochs), disable=not verbose, desc="fit_embedding")
    for _ in bar:                                  # loop over epochs
        epoch = []
        for batch in sampler:                      # loop over batches
            idx = torch.as_tensor(batch, device=device)
            with torch.autocast(device.type, dtype=amp_dtype,
                                enabled=amp_dtype is not None):
                value, n_tuples = _step_loss(model, Xt[idx], yt[idx],
                                             loss, miner)
            if value.requires_grad:
                opt.zero_grad()
                scaler.scale(value).backward()
                scaler.step(opt)
                scaler.update()
            epoch.append(value.detach().float())   # on the device
            history["n_tuples"].append(n_tuples)
        epoch = torch.stack(epoch).tolist() if epoch else []  # one sync
        history["step_loss"] += epoch
        history["loss"].append(float(np.mean(epoch)) if epoch else 0.0)
        bar.set_postfix(loss=f"{history['loss'][-1]:.4f}")
    model.eval()
    return history


def _step_loss(model, X_batch, labels, loss, miner):
    """Loss of one batch and the number of mined tuples (-1: no miner)."""
    emb = model(X_batch)                                     # (B, out)
    if miner is None:
        return loss(emb, labels), -1
    tuples = miner(emb, labels)
    return loss(emb, labels, tuples), len(tuples[0])


def embed(model: torch.nn.Module, X, batch_size: int = 1024,
          device=None) -> np.ndarray:
    r"""Embeddings of every row of X as a numpy array (N, out_dim).

    .. math::

       z_i = f(x_i), \quad i = 1, \dots, N.

    Taught in :doc:`chapter 3 </book/chapters/03_deep_losses>`: z_i = f(x_i),
    the input of :func:`dml.knn_accuracy` and the metrics of chapter 6.

    Runs in eval mode without gradients, ``batch_size`` rows at a time, on
    ``device`` (default: where the model's parameters are). The model's
    train/eval mode is restored afterwards.
    """
    batch_size = check_positive_int(batch_size, "batch_size")
    device = _model_device(model) if device is None else \
        resolve_device(device)
    model.to(device)
    Xt = to_tensor(X, "X", dtype=_model_dtype(model))
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for start in range(0, Xt.shape[0], batch_size):   # loop over chunks
            out.append(model(Xt[start:start + batch_size].to(device)).cpu())
    model.train(was_training)
    return torch.cat(out).numpy()
