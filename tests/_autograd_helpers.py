"""Helpers shared by the tests of dml.linear."""
import torch


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
