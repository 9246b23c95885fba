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


def default_sampler(y, seed: int | None = 0) -> PKSampler:
    """P x K sampler for ``y``: P = min(C, 8) classes, K = 64 // P (>= 2)."""
    C = len(np.unique(np.asarray(y.cpu() if isinstance(y, torch.Tensor)
                                 else y)))
    P = min(C, 8)
    return PKSampler(y, P=P, K=max(2, 64 // P), seed=seed)


def fit_embedding(model: torch.nn.Module, X, y, loss, miner=None,
                  sampler=None, *, epochs: int = 10, lr: float = 1e-3,
                  device=None, seed: int | None = 0,
                  weight_decay: float = 0.0, verbose: bool = True) -> dict:
    """Train ``model`` so that its embeddings make ``loss`` small.

    Every step: take a batch of indices from ``sampler``, embed it, let
    ``miner(embeddings, labels)`` choose index tuples (if a miner is
    given), compute ``loss(embeddings, labels, indices_tuple)`` (or
    ``loss(embeddings, labels)`` without a miner) and take an Adam step.

    Parameters
    ----------
    model : torch module mapping (B, ...) inputs to (B, out_dim).
    X : (N, ...) inputs, numpy or tensor (cast to the model's dtype).
    y : (N,) labels.
    loss : a dml.losses module (or any callable with that signature); its
        own parameters, if any (proxies, class vectors), are trained too.
    miner : a dml.miners miner, or None.
    sampler : an iterable of index lists (a batch sampler), re-iterated
        every epoch; default :func:`dml.train.default_sampler` seeded with ``seed``.
    epochs, lr, weight_decay : passes over the sampler; Adam's settings.
    device : "cpu", "cuda", ... ; None = CUDA when available.
    seed : ``torch.manual_seed(seed)`` at the start (dropout and the like)
        and the default sampler's seed. On the CPU two calls with the same
        seed, model initialisation and data give identical histories.
    verbose : show a tqdm progress bar over epochs.

    Returns a dict of lists: ``loss`` (mean loss per epoch), ``step_loss``
    (per step) and ``n_tuples`` (tuples the miner returned per step;
    -1 without a miner). The model is trained in place and left in eval
    mode on ``device``. A step whose loss does not require a gradient (no
    tuple mined) is recorded but takes no optimiser step.
    """
    epochs = check_positive_int(epochs, "epochs")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}.")
    if seed is not None:
        torch.manual_seed(int(seed))
    device = resolve_device(device)
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
            emb = model(Xt[idx])                             # (B, out)
            labels = yt[idx]
            if miner is None:
                value, n_tuples = loss(emb, labels), -1
            else:
                tuples = miner(emb, labels)
                value = loss(emb, labels, tuples)
                n_tuples = int(len(tuples[0]))
            if value.requires_grad:
                opt.zero_grad()
                value.backward()
                opt.step()
            epoch.append(float(value.detach()))
            history["step_loss"].append(epoch[-1])
            history["n_tuples"].append(n_tuples)
        history["loss"].append(float(np.mean(epoch)) if epoch else 0.0)
        bar.set_postfix(loss=f"{history['loss'][-1]:.4f}")
    model.eval()
    return history


def embed(model: torch.nn.Module, X, batch_size: int = 1024,
          device=None) -> np.ndarray:
    """Embeddings of every row of X as a numpy array (N, out_dim).

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
