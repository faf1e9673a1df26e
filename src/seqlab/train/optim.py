"""The optimizer, and the gradient arithmetic between backward and the optimizer step.

References: Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization" (AdamW); Pascanu
et al. 2013, "On the difficulty of training recurrent neural networks" (clipping the global
gradient norm); DESIGN.md convention 7 (losses are sums with counts, so accumulation is exact).
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.train.config import TrainConfig

__all__ = ["average_and_clip_gradients", "build_optimizer"]


def build_optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.AdamW:
    """AdamW over the trainable parameters; weight decay on matrices and embeddings only.

    Biases and normalization gains (parameters with fewer than 2 dimensions) get no decay:
    shrinking them toward zero only shifts or rescales activations and does not regularize
    (the nanoGPT / BERT practice). Parameter order follows ``model.parameters()``, which
    checkpoints rely on to match optimizer state to parameters.
    """
    trainable = [parameter for parameter in model.parameters() if parameter.requires_grad]
    if not trainable:
        raise ValueError("the model has no parameter with requires_grad=True; nothing to train")
    decay = [parameter for parameter in trainable if parameter.dim() >= 2]
    no_decay = [parameter for parameter in trainable if parameter.dim() < 2]
    groups = [
        {"params": params, "weight_decay": weight_decay}
        for params, weight_decay in ((decay, config.weight_decay), (no_decay, 0.0))
        if params
    ]
    return torch.optim.AdamW(groups, lr=config.lr, betas=config.betas, eps=config.eps)


def _global_grad_norm(parameters: list[nn.Parameter]) -> torch.Tensor:
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads]))


def average_and_clip_gradients(
    parameters: list[nn.Parameter], *, count: int, grad_clip: float | None
) -> float:
    """Turn summed gradients into mean gradients, clip them, and return the pre-clip norm.

    The gradients hold d(sum of item losses); dividing once by ``count`` (the items of every
    accumulated micro-batch) makes them the mean over all items, exactly what one big batch
    gives. Then, when ``grad_clip`` is set, the global L2 norm over all parameters is scaled
    down to ``grad_clip`` if larger (Pascanu et al. 2013). The returned norm may be inf/NaN.
    """
    if count <= 0:
        raise ValueError(f"count ({count}) must be positive to average the gradients")
    for parameter in parameters:
        if parameter.grad is not None:
            parameter.grad.div_(count)
    if grad_clip is not None:
        return float(nn.utils.clip_grad_norm_(parameters, max_norm=grad_clip))
    return float(_global_grad_norm(parameters))
