"""How much the loss still depends on each input position: ||dL/dx_t|| against distance.

Bengio, Simard and Frasconi (1994), "Learning long-term dependencies with gradient descent is
difficult", and Pascanu, Mikolov and Bengio (2013), "On the difficulty of training recurrent
neural networks", sec. 2: in a recurrent network dL/dx_t passes through the product of Jacobians
prod_{k=t+1..T} dh_k/dh_{k-1}, which shrinks (or grows) geometrically with T - t. Attention
connects every position to the output in one step, so its gradients need not fade with distance.
This module measures exactly that on a model and a batch: the norm of the gradient of the mean
loss with respect to each position's input vector, averaged over the batch.
"""

from __future__ import annotations

import torch

from seqlab.models.memory import MemoryModel
from seqlab.tasks.memory.task import MemoryTask


def input_gradient_norms(
    model: MemoryModel, task: MemoryTask, *, examples: int = 256
) -> list[float]:
    """Mean ||dL/dx_t|| over ``examples`` validation examples, indexed by distance from the
    answer: element d is the position d steps before the step where the answer is read."""
    batch = task.split_batches("val")[0]
    device = next(model.parameters()).device
    inputs = batch.inputs[:examples].to(device)
    targets = batch.targets[:examples].to(device)
    was_training = model.training
    model.eval()  # no dropout: the measurement is of the function, not of a random mask
    try:
        embedded = model.embed(inputs).detach().requires_grad_(True)  # (B, T, D)
        outputs = model.forward_embedded(embedded)
        terms = task.loss_terms(outputs, targets, smoothing=0.0)
        # The gradient of the input alone: the model's parameters keep no .grad from this.
        (gradient,) = torch.autograd.grad(terms.sum() / terms.numel(), embedded)  # (B, T, D)
    finally:
        model.train(was_training)
    norms = gradient.norm(dim=-1).mean(dim=0)  # (T,)
    answer_step = norms.shape[0] - 1
    if task.data.kind == "copy":
        answer_step -= task.data.string_length  # distance from the delimiter that cues recall
    return [float(norms[answer_step - distance]) for distance in range(answer_step + 1)]


def seconds_per_training_step(
    model: torch.nn.Module, task: MemoryTask, *, repeats: int = 5, warmup: int = 2
) -> float:
    """Median wall-clock seconds of one optimizer step (forward, backward, AdamW update)."""
    import statistics
    import time

    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    batch = task.train_batch(0)
    model.train()
    samples = []
    for attempt in range(warmup + repeats):
        start = time.perf_counter()
        optimizer.zero_grad(set_to_none=True)
        step_loss = task.loss(model, batch)
        (step_loss.loss_sum / step_loss.count).backward()
        optimizer.step()
        if attempt >= warmup:
            samples.append(time.perf_counter() - start)
    return statistics.median(samples)
