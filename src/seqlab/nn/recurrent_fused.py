"""The fused path of the recurrent layers: torch's own kernels over seqlab's parameter set.

Reference: torch.nn.RNNBase.forward (torch.nn.RNN/LSTM/GRU). This module makes the same kernel
calls (`torch._VF.rnn_tanh`, `rnn_relu`, `lstm`, `gru`) with the same arguments, including the
packed-sequence variant that torch runs for `pack_padded_sequence(enforce_sorted=False)` input,
so speed and results are torch's. Dropout between layers happens inside the kernel.

One deviation, for speed: a single time step on the CPU (T = 1: generation, streaming, decoding
a token at a time) runs with oneDNN switched off. oneDNN's RNN primitive pays a set-up cost per
call that dwarfs one step's arithmetic (an LSTM of 512 units, batch 1: 1.08 ms a call with it,
0.19 ms without, measured on one thread); over whole sequences it is the faster kernel, so
everything else keeps it. The two compute the same function (equal to about 1e-7).

Shapes (the repository's legend): B batch, T time steps, F input features, L layers; hidden_size
and num_directions are written out, since H and D mean heads and model width.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext

import torch
from torch import _VF, Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from seqlab.nn.recurrent_checks import LayerInputs, State
from seqlab.nn.recurrent_params import RecurrentParameters

__all__ = ["fused_forward"]

# torch's fused kernels, by mode; the same table torch.nn.RNN uses.
_FUSED_KERNELS: dict[str, Callable[..., tuple[Tensor, ...]]] = {
    "RNN_TANH": _VF.rnn_tanh,
    "RNN_RELU": _VF.rnn_relu,
    "LSTM": _VF.lstm,
    "GRU": _VF.gru,
}


def fused_forward(
    params: RecurrentParameters, inputs: LayerInputs, *, dropout: float, training: bool
) -> tuple[Tensor, State]:
    """Run inputs.x (B, T, F) from (h0, c0) through torch's kernel for `params.mode`.

    Returns (output (B, T, num_directions*hidden_size), final state in torch's layout).
    """
    x, h0, c0, lengths = inputs
    # Same call sequence as torch.nn.RNNBase.forward: a Python list of the parameters (cheap,
    # and it follows parameter swaps such as torch.func.functional_call), no copies.
    weights = params.flat_weights()
    kernel = _FUSED_KERNELS[params.mode]
    flags = (params.bias, params.num_layers, dropout, training, params.bidirectional)
    if lengths is None:
        hx = h0 if c0 is None else (h0, c0)
        one_cpu_step = x.size(1) == 1 and x.device.type == "cpu"
        with _without_onednn() if one_cpu_step else nullcontext():
            # True: batch_first. result: output (B, T, num_directions*hidden_size), then h (and c)
            result = kernel(x, hx, weights, *flags, True)
        return result[0], _final_state(result[1:])

    # Packed variant: sort by length (pack does it), run on the packed data, then unsort the
    # state and pad the output back to T steps with zeros.
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    sorted_idx, unsorted_idx = packed.sorted_indices, packed.unsorted_indices  # (B,) each
    # enforce_sorted=False always records both permutations; the check narrows their type.
    assert sorted_idx is not None and unsorted_idx is not None
    h0_sorted = h0.index_select(1, sorted_idx)  # (L*num_directions, B, hidden_size)
    # result: packed output (sum of lengths, num_directions*hidden_size), then h (and c)
    if c0 is None:
        result = kernel(packed.data, packed.batch_sizes, h0_sorted, weights, *flags)
    else:
        c0_sorted = c0.index_select(1, sorted_idx)  # (L*num_directions, B, hidden_size)
        hx_sorted = (h0_sorted, c0_sorted)
        result = kernel(packed.data, packed.batch_sizes, hx_sorted, weights, *flags)
    output, _ = pad_packed_sequence(
        PackedSequence(result[0], packed.batch_sizes, sorted_idx, unsorted_idx),
        batch_first=True,
        total_length=x.size(1),
    )  # (B, T, num_directions*hidden_size)
    unsorted = [part.index_select(1, unsorted_idx) for part in result[1:]]  # h (and c)
    return output, _final_state(unsorted)


# oneDNN's switch is the process's, not a thread's: a service runs recurrent steps in its model
# thread while the main thread may run others. Users share it under a lock: the first turns it off,
# the last puts back what the first found (saving and restoring per call would let two
# interleaved calls leave it off for good).
_ONEDNN_LOCK = threading.Lock()
_onednn_users = 0
_onednn_found = True


@contextmanager
def _without_onednn() -> Iterator[None]:
    """oneDNN (mkldnn) off for the duration, restored after the last concurrent user leaves.
    torch.backends.mkldnn.flags would do the same but also resets its TF32 setting, which warns
    on builds without Intel GPUs, and is not safe across threads."""
    global _onednn_users, _onednn_found
    with _ONEDNN_LOCK:
        if _onednn_users == 0:
            _onednn_found = torch._C._get_mkldnn_enabled()
            torch._C._set_mkldnn_enabled(False)
        _onednn_users += 1
    try:
        yield
    finally:
        with _ONEDNN_LOCK:
            _onednn_users -= 1
            if _onednn_users == 0:
                torch._C._set_mkldnn_enabled(_onednn_found)


def _final_state(parts: tuple[Tensor, ...] | list[Tensor]) -> State:
    # The kernels return h alone, or h and c for the LSTM.
    return (parts[0], parts[1]) if len(parts) == 2 else parts[0]
