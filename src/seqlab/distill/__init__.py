"""Task-specific knowledge distillation: a small sentiment classifier trained on a teacher's
logits over an augmented transfer set.

References: Tang, Lu, Liu, Mou, Vechtomova and Lin, 2019, "Distilling Task-Specific Knowledge
from BERT into Simple Neural Networks" (a one-layer BiLSTM distilled from BERT on SST-2, with a
squared-error objective on logits and an augmented transfer set); Hinton, Vinyals and Dean,
2015, "Distilling the Knowledge in a Neural Network" (soft targets at a temperature).

Modules, one purpose each:

- ``settings``: the run's distillation settings (augmentation, objective);
- ``augmentation``: Tang et al.'s masking, replacement and n-gram rules, seeded per copy;
- ``unlabelled``: reading ``--unlabelled FILE``;
- ``transfer_set``: originals + copies + unlabelled texts, their labels, the checksum;
- ``teacher``: loading and checking the teacher directory;
- ``teacher_logits``: labelling the transfer set in length-sorted batches;
- ``logit_cache``: keeping those logits in the student's directory for reuse;
- ``progress``: the labelling progress bar;
- ``loss``: the distillation objective;
- ``student_task``: the sentiment task trained on the transfer set;
- ``workflow``: ``distill``, all of it in order (``seqlab distill``).
"""

from __future__ import annotations
