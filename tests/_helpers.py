"""Small helpers shared by several test files (not tests themselves)."""
import math

import torch


def batch(seed, B=10, D=3, C=3):
    """A seeded float64 batch of B embeddings in R^D with C classes."""
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(B, D, generator=g, dtype=torch.float64)
    y = torch.randint(0, C, (B,), generator=g)
    return X, y


def cos(x, z):
    """Cosine similarity of two vectors, in plain Python (a reference)."""
    x, z = x.tolist(), z.tolist()
    dot = sum(a * b for a, b in zip(x, z))
    return dot / math.sqrt(sum(a * a for a in x) * sum(b * b for b in z))


class AnalyticLoss(torch.autograd.Function):
    """Wrap a (loss, grad) function so autograd uses *our* gradient;
    gradcheck then compares it with finite differences in float64."""

    @staticmethod
    def forward(ctx, W, loss_grad):
        loss, grad = loss_grad(W.detach())
        ctx.save_for_backward(grad)
        return loss.clone()

    @staticmethod
    def backward(ctx, g):
        (grad,) = ctx.saved_tensors
        return g * grad, None
