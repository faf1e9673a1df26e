"""The encoder-decoders (seqlab.models.seq2seq*): causality, teacher forcing equal to step-by-step
decoding, the cache equal to recomputing the prefix, padding invariance, reorder_state, tied and
shared embeddings, the Transformer base model's parameter count, and the config checks.

Every model runs in float64 and eval mode (dropout off), so comparisons are exact up to rounding.
"""

from __future__ import annotations

import pytest
import torch
from torch import Tensor
from torch.testing import assert_close

from seqlab.infer.decoding import beam_search, greedy_search
from seqlab.models.seq2seq import build_seq2seq
from seqlab.models.seq2seq_config import Seq2SeqRecurrentConfig, Seq2SeqTransformerConfig
from seqlab.models.seq2seq_recurrent import RecurrentDecodingState, RecurrentSeq2Seq
from seqlab.models.seq2seq_transformer import TransformerDecodingState, TransformerSeq2Seq

PAD, BOS, EOS = 0, 1, 2
SRC_VOCAB, TGT_VOCAB = 23, 19
SMALL = {"d_model": 16, "num_heads": 2, "dim_feedforward": 24, "max_len": 64}
CONFIGS = {
    "transformer-post-norm": Seq2SeqTransformerConfig(
        **SMALL, num_encoder_layers=2, num_decoder_layers=2
    ),
    "transformer-pre-norm-shared": Seq2SeqTransformerConfig(
        **SMALL,
        num_encoder_layers=1,
        num_decoder_layers=2,
        norm_first=True,
        activation="gelu",
        share_embeddings=True,
    ),
    "transformer-untied-reference": Seq2SeqTransformerConfig(
        **SMALL, num_encoder_layers=2, num_decoder_layers=1, tie_output=False, impl="reference"
    ),
    "lstm-general-input-feeding": Seq2SeqRecurrentConfig(hidden_size=12, num_layers=2),
    "gru-additive": Seq2SeqRecurrentConfig(
        family="gru",
        hidden_size=12,
        num_layers=1,
        attention="additive",
        attention_size=7,
        input_feeding=False,
    ),  # fmt: skip
    "lstm-dot-unidirectional-untied": Seq2SeqRecurrentConfig(
        hidden_size=12,
        num_layers=2,
        embed_dim=8,
        attention="dot",
        bidirectional_encoder=False,
        tie_output=False,
        input_feeding=False,
    ),  # fmt: skip
    "gru-dot-shared-reference": Seq2SeqRecurrentConfig(
        family="gru",
        hidden_size=10,
        num_layers=2,
        attention="dot",
        share_embeddings=True,
        impl="reference",
    ),  # fmt: skip
}
NAMES = list(CONFIGS)


def _build(name: str) -> TransformerSeq2Seq | RecurrentSeq2Seq:
    torch.manual_seed(0)
    config = CONFIGS[name]
    shared = config.share_embeddings
    model = build_seq2seq(
        config,
        src_vocab_size=TGT_VOCAB if shared else SRC_VOCAB,
        tgt_vocab_size=TGT_VOCAB,
        pad_id=PAD,
    )
    return model.double().eval()


def _padded(lengths: list[int], vocab: int, *, first: int | None = None) -> Tensor:
    generator = torch.Generator().manual_seed(sum(lengths) + vocab)
    ids = torch.randint(3, min(vocab, TGT_VOCAB), (len(lengths), max(lengths)), generator=generator)
    if first is not None:
        ids[:, 0] = first
    for row, length in enumerate(lengths):
        ids[row, length:] = PAD
    return ids  # (B, length)


SRC_LENGTHS = [7, 4, 2]
TGT_LENGTHS = [6, 5, 3]


def _batch() -> tuple[Tensor, Tensor, Tensor, Tensor]:
    src = _padded(SRC_LENGTHS, SRC_VOCAB)
    tgt_in = _padded(TGT_LENGTHS, TGT_VOCAB, first=BOS)
    return src, torch.tensor(SRC_LENGTHS), tgt_in, torch.tensor(TGT_LENGTHS)


class Observed:
    """The model as a search sees it: every step's logits are recorded, and the search reads
    them sharpened (x10) with EOS made likelier step by step (an untrained model rarely ends),
    so some sentences end with EOS and others at their length limit."""

    def __init__(self, model: TransformerSeq2Seq | RecurrentSeq2Seq) -> None:
        self.model, self.logits = model, []

    def decode_step(self, tokens, state):
        logits, state = self.model.decode_step(tokens, state)
        self.logits.append(logits)
        sharpened = logits * 10.0
        sharpened[:, EOS] += len(self.logits) - 3.0
        return sharpened, state

    def reorder_state(self, state, indices):
        return self.model.reorder_state(state, indices)


def _search(model, src, src_lengths, *, beam_size, use_cache=True):
    observed = Observed(model)
    state = model.start_decoding(src, src_lengths, use_cache=use_cache)
    limits = src_lengths + 3  # 10, 7 and 5 for the batch
    special = {"bos_id": BOS, "eos_id": EOS, "pad_id": PAD, "length_penalty": 0.6}
    if beam_size is None:
        return greedy_search(observed, state, max_lengths=limits, **special), observed.logits
    found = beam_search(observed, state, beam_size=beam_size, max_lengths=limits, **special)
    return found, observed.logits


@pytest.mark.parametrize("name", NAMES)
def test_a_later_target_token_never_changes_earlier_logits(name):
    model = _build(name)
    src, src_lengths, tgt_in, tgt_lengths = _batch()
    logits = model(src, src_lengths, tgt_in, tgt_lengths)  # (B, T, V)
    for position in (1, 3):
        changed = tgt_in.clone()
        changed[:, position] = (changed[:, position] + 1 - 3) % (TGT_VOCAB - 3) + 3
        other = model(src, src_lengths, changed, tgt_lengths)
        assert_close(other[:, :position], logits[:, :position], rtol=0, atol=1e-12)
        assert (other[0, position] - logits[0, position]).abs().max() > 1e-3


@pytest.mark.parametrize("use_cache", [True, False])
@pytest.mark.parametrize("name", NAMES)
def test_teacher_forcing_equals_decoding_step_by_step(name, use_cache):
    model = _build(name)
    src, src_lengths, tgt_in, tgt_lengths = _batch()
    logits = model(src, src_lengths, tgt_in, tgt_lengths)  # (B, T, V)
    state = model.start_decoding(src, src_lengths, use_cache=use_cache)
    for t in range(tgt_in.shape[1]):
        step_logits, state = model.decode_step(tgt_in[:, t : t + 1], state)  # (B, V)
        real = t < tgt_lengths  # padded positions' logits mean nothing
        assert_close(step_logits[real], logits[real, t])


@pytest.mark.parametrize("beam_size", [None, 3])
@pytest.mark.parametrize("name", NAMES)
def test_cached_decoding_equals_recomputing_the_prefix(name, beam_size):
    model = _build(name)
    src, src_lengths, _, _ = _batch()
    cached, cached_logits = _search(model, src, src_lengths, beam_size=beam_size)
    recomputed, recomputed_logits = _search(
        model, src, src_lengths, beam_size=beam_size, use_cache=False
    )
    assert [h.tokens for h in cached] == [h.tokens for h in recomputed]
    assert_close([h.score for h in cached], [h.score for h in recomputed])
    assert len(cached_logits) == len(recomputed_logits)
    for step, (with_cache, without) in enumerate(
        zip(cached_logits, recomputed_logits, strict=True)
    ):
        assert_close(with_cache, without, msg=f"step {step}")


@pytest.mark.parametrize("name", NAMES)
def test_a_sentence_gives_the_same_logits_alone_and_padded_in_a_batch(name):
    model = _build(name)
    src, src_lengths, tgt_in, tgt_lengths = _batch()
    logits = model(src, src_lengths, tgt_in, tgt_lengths)
    for row, (s, t) in enumerate(zip(SRC_LENGTHS, TGT_LENGTHS, strict=True)):
        alone = model(src[row : row + 1, :s], src_lengths[row : row + 1],
                      tgt_in[row : row + 1, :t], tgt_lengths[row : row + 1])  # fmt: skip
        assert_close(alone[0], logits[row, :t])


@pytest.mark.parametrize("beam_size", [None, 3])
@pytest.mark.parametrize("name", NAMES)
def test_a_sentence_decodes_the_same_alone_and_padded_in_a_batch(name, beam_size):
    model = _build(name)
    src, src_lengths, _, _ = _batch()
    together, _ = _search(model, src, src_lengths, beam_size=beam_size)
    for row, length in enumerate(SRC_LENGTHS):
        [alone], _ = _search(
            model, src[row : row + 1, :length], src_lengths[row : row + 1], beam_size=beam_size
        )
        assert alone.tokens == together[row].tokens
        assert_close(alone.score, together[row].score)
        assert_close(alone.log_prob, together[row].log_prob)


def _state_tensors(state) -> list[tuple[Tensor, int]]:
    """Every tensor of a decoding state, with its batch dimension."""
    if isinstance(state, TransformerDecodingState):
        parts = [(state.memory, 0), (state.memory_mask, 0), (state.prefix, 0)]
        for layer in state.cache.layers:
            for cache in (layer.self_attn, layer.cross_attn):
                parts += [(cache.key, 0), (cache.value, 0)]
        return parts
    assert isinstance(state, RecurrentDecodingState)
    parts = [(part, 0) for part in state.source] + [(state.feed, 0), (state.prefix, 0)]
    for recurrent in (state.initial, state.hidden):
        parts += [
            (part, 1) for part in (recurrent if isinstance(recurrent, tuple) else [recurrent])
        ]
    return parts


@pytest.mark.parametrize("name", NAMES)
def test_reorder_state_selects_rows_exactly(name):
    model = _build(name)
    src, src_lengths, tgt_in, _ = _batch()
    state = model.start_decoding(src, src_lengths)
    for t in range(2):
        _, state = model.decode_step(tgt_in[:, t : t + 1], state)
    before = [(tensor.clone(), dim) for tensor, dim in _state_tensors(state)]
    indices = torch.tensor([2, 0, 0, 1])
    next_tokens = tgt_in[:, 2:3]
    reordered = model.reorder_state(state, indices)
    after = _state_tensors(reordered)
    assert len(after) == len(before)
    for (old, dim), (new, _) in zip(before, after, strict=True):
        assert torch.equal(new, old.index_select(dim, indices))
    logits, _ = model.decode_step(next_tokens[indices], reordered)
    # The same step from the rows as they were, decoded again from scratch:
    fresh = model.start_decoding(src, src_lengths)
    for t in range(3):
        expected, fresh = model.decode_step(tgt_in[:, t : t + 1], fresh)
    assert_close(logits, expected[indices])


def test_tied_output_projection_is_the_target_embedding():
    model = _build("transformer-post-norm")
    embeddings = model.embeddings
    assert embeddings.output_weight is embeddings.target_embedding.weight
    assert embeddings.output_weight.data_ptr() == embeddings.target_embedding.weight.data_ptr()
    assert embeddings.source_weight.data_ptr() != embeddings.target_embedding.weight.data_ptr()
    untied = _build("transformer-untied-reference").embeddings
    assert untied.output_weight.data_ptr() != untied.target_embedding.weight.data_ptr()


@pytest.mark.parametrize("name", ["transformer-pre-norm-shared", "gru-dot-shared-reference"])
def test_a_shared_embedding_is_one_tensor_for_source_target_and_output(name):
    model = _build(name)
    embeddings = model.embeddings
    pointers = {
        embeddings.source_weight.data_ptr(),
        embeddings.target_embedding.weight.data_ptr(),
        embeddings.output_weight.data_ptr(),
    }
    assert len(pointers) == 1
    # Held once, so the weights file stores it once and a gradient from any role lands in it.
    embedding_names = [key for key in model.state_dict() if "embedding" in key]
    assert embedding_names == ["embeddings.target_embedding.weight"]
    src, src_lengths, tgt_in, tgt_lengths = _batch()
    model(src.clamp(max=TGT_VOCAB - 1), src_lengths, tgt_in, tgt_lengths).sum().backward()
    source_rows = src.clamp(max=TGT_VOCAB - 1).unique()
    assert embeddings.target_embedding.weight.grad[source_rows].abs().sum() > 0


def test_the_transformer_base_model_has_the_papers_parameter_count():
    config = Seq2SeqTransformerConfig()  # the defaults are Table 3's base model
    assert (config.d_model, config.num_heads, config.dim_feedforward) == (512, 8, 2048)
    assert (config.num_encoder_layers, config.num_decoder_layers) == (6, 6)
    D, F, V = 512, 2048, 37000  # the paper's shared English-German BPE vocabulary
    attention = 4 * D * D + 4 * D  # W^Q, W^K, W^V, W^O and their biases
    feed_forward = D * F + F + F * D + D  # eq. 2
    norm = 2 * D  # gain and bias
    encoder_layer = attention + feed_forward + 2 * norm
    decoder_layer = 2 * attention + feed_forward + 3 * norm
    expected = 6 * encoder_layer + 6 * decoder_layer + V * D  # one shared embedding matrix
    model = build_seq2seq(
        Seq2SeqTransformerConfig(share_embeddings=True),
        src_vocab_size=V,
        tgt_vocab_size=V,
        pad_id=PAD,
    )
    assert sum(p.numel() for p in model.parameters()) == expected == 63_082_496
    # Table 3 rounds its count to 65 million; ours (no output bias, post-norm: no final
    # LayerNorm) is the same architecture at 63.1 million.
    separate = build_seq2seq(config, src_vocab_size=1000, tgt_vocab_size=1200, pad_id=PAD)
    assert sum(p.numel() for p in separate.parameters()) == expected - V * D + 2200 * D


@pytest.mark.parametrize("name", NAMES)
def test_alignment_rows_are_distributions_over_the_real_source(name):
    model = _build(name)
    src, src_lengths, tgt_in, tgt_lengths = _batch()
    with torch.no_grad():
        weights = model.alignment(src, src_lengths, tgt_in, tgt_lengths)  # (B, T, S)
    assert weights.shape == (3, tgt_in.shape[1], src.shape[1])
    real = torch.arange(src.shape[1])[None, :] < src_lengths[:, None]  # (B, S)
    padded = weights.masked_select(~real[:, None, :])
    assert padded.numel() == 6 * (0 + 3 + 5) and torch.equal(padded, torch.zeros_like(padded))
    assert_close(weights.sum(-1), torch.ones(3, tgt_in.shape[1], dtype=weights.dtype))


def test_transformer_alignment_averages_the_last_layers_heads_on_the_reference_path():
    model = _build("transformer-post-norm")
    assert model.decoder.impl == "fused"
    src, src_lengths, tgt_in, tgt_lengths = _batch()
    per_head = model.cross_attention_weights(src, src_lengths, tgt_in, tgt_lengths)
    assert per_head.shape == (3, 2, tgt_in.shape[1], src.shape[1])  # (B, H, T, S)
    assert_close(model.alignment(src, src_lengths, tgt_in, tgt_lengths), per_head.mean(dim=1))
    assert model.encoder.impl == model.decoder.impl == "fused"  # restored
    first = model.cross_attention_weights(src, src_lengths, tgt_in, tgt_lengths, layer=0)
    assert (first - per_head).abs().max() > 1e-3


@pytest.mark.parametrize("name", ["transformer-post-norm", "lstm-general-input-feeding"])
def test_the_reference_path_computes_the_same_logits(name):
    model = _build(name)
    src, src_lengths, tgt_in, tgt_lengths = _batch()
    fused = model(src, src_lengths, tgt_in, tgt_lengths)
    for stack in (model.encoder, model.decoder):
        stack.impl = "reference"
    assert_close(model(src, src_lengths, tgt_in, tgt_lengths), fused)


def test_build_seq2seq_picks_the_family():
    assert isinstance(_build("transformer-post-norm"), TransformerSeq2Seq)
    assert isinstance(_build("gru-additive"), RecurrentSeq2Seq)
    with pytest.raises(TypeError, match="Seq2SeqTransformerConfig or Seq2SeqRecurrentConfig"):
        build_seq2seq(object(), src_vocab_size=5, tgt_vocab_size=5, pad_id=0)


def test_inputs_are_checked():
    model = _build("gru-additive")
    src, src_lengths, tgt_in, tgt_lengths = _batch()
    with pytest.raises(ValueError, match=r"every src length must be in \[1, 7\]"):
        model(src, torch.tensor([8, 4, 2]), tgt_in, tgt_lengths)
    with pytest.raises(ValueError, match=r"tgt_lengths must have shape \(B,\) = \(3,\)"):
        model(src, src_lengths, tgt_in, tgt_lengths[:2])
    state = model.start_decoding(src, src_lengths)
    with pytest.raises(ValueError, match=r"tokens must be \(B, 1\) = \(3, 1\)"):
        model.decode_step(tgt_in[:, :2], state)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Seq2SeqTransformerConfig(d_model=30, num_heads=8), r"model.d_model \(30\)"),
        (lambda: Seq2SeqTransformerConfig(num_decoder_layers=0), r"model.num_decoder_layers"),
        (lambda: Seq2SeqTransformerConfig(dropout=1.0), r"model.dropout \(1.0\)"),
        (
            lambda: Seq2SeqTransformerConfig(tie_output=False, share_embeddings=True),
            "model.share_embeddings",
        ),
        (lambda: Seq2SeqRecurrentConfig(hidden_size=7), r"model.hidden_size \(7\) must be even"),
        (lambda: Seq2SeqRecurrentConfig(embed_dim=8), r"model.embed_dim \(8\)"),
        (lambda: Seq2SeqRecurrentConfig(attention_size=8), r"model.attention_size \(8\)"),
    ],
)
def test_config_checks_name_the_field(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_a_shared_embedding_needs_one_vocabulary():
    config = Seq2SeqTransformerConfig(**SMALL, num_encoder_layers=1, num_decoder_layers=1,
                                      share_embeddings=True)  # fmt: skip
    with pytest.raises(ValueError, match=r"src_vocab_size \(23\) and tgt_vocab_size \(19\)"):
        build_seq2seq(config, src_vocab_size=SRC_VOCAB, tgt_vocab_size=TGT_VOCAB, pad_id=PAD)
