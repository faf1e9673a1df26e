"""The student's word vectors taken from its teacher (``--embeddings teacher``).

A student trained from scratch learns its vocabulary from the training split alone, so a word
the training texts never use reaches it as a random vector, however well the teacher knows it.
Tang et al. (2019, sec. 4.2) give their BiLSTM student pretrained word2vec vectors for that
reason; here the vectors come from the teacher itself, which needs no download: the student
reads text through the teacher's tokenizer and its embedding table starts as the teacher's
token vectors (then trains with the rest of the student).

The teacher's token vector of token t is what its first layer reads for t, less what depends on
the position:

- the pretrained encoder (BERT, Devlin et al., 2019, sec. 3): its input at position p is
  LayerNorm(E_word[t] + E_pos[p] + E_type[0]); the student's vector is
  LayerNorm(E_word[t] + E_type[0]), on the scale the encoder's layers read (the raw word table's
  entries are about 0.06 in size, a twentieth of a freshly initialised embedding's);
- a seqlab classifier (seqlab.models.classifier.SequenceClassifier): its embedding row times the
  scale it is read with (sqrt(d_model) for a Transformer, 1 for a recurrent model).

The student's embedding width becomes the teacher's (model.embed_dim for a recurrent student);
a Transformer student must have the teacher's width as its d_model.
"""

from __future__ import annotations

import torch
from torch import nn

from seqlab.distill.teacher import Teacher
from seqlab.errors import SeqlabError
from seqlab.models.classifier import SequenceClassifier
from seqlab.models.pretrained import MiniLMClassifier


@torch.no_grad()
def teacher_token_vectors(teacher: Teacher) -> torch.Tensor:
    """(V, E): one vector for each id of the teacher's tokenizer, as the module docstring
    defines it."""
    model = teacher.model
    if isinstance(model, MiniLMClassifier):
        bert = model.encoder
        words = bert.word_embeddings.weight  # (V, E)
        segment = bert.token_type_embeddings.weight[0]  # (E,) every input is segment 0
        vectors = bert.embedding_norm(words + segment)  # (V, E)
        vectors[bert.config.pad_token_id] = 0.0  # padding reads as nothing, as in a fresh table
        return vectors.detach().cpu().float().clone()
    if isinstance(model, SequenceClassifier):
        table = model.embedding.weight * model.embedding_scale  # (V, E)
        return table.detach().cpu().float().clone()
    raise SeqlabError(
        f"the teacher '{teacher.directory}' ({type(model).__name__}) has no token embedding "
        "table to give the student; pass --embeddings own"
    )


def load_into(student: nn.Module, vectors: torch.Tensor) -> None:
    """Copy ``vectors`` (V, E) into the student's embedding table, which must have that shape."""
    if not isinstance(student, SequenceClassifier):
        raise TypeError(f"a student is a SequenceClassifier, not {type(student).__name__}")
    table = student.embedding.weight
    if tuple(table.shape) != tuple(vectors.shape):
        raise ValueError(
            f"the student's embedding table {tuple(table.shape)} must be the teacher's "
            f"{tuple(vectors.shape)}"
        )
    with torch.no_grad():
        # A Transformer student multiplies its embeddings by sqrt(d_model) when it reads them.
        table.copy_(vectors / student.embedding_scale)
