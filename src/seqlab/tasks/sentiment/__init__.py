"""The sentiment workload: SST-2 or any labelled text file, recurrent and Transformer classifiers.

Data: the named data set ``sst2`` (GLUE SST-2: train.tsv for training, dev.tsv for validation
and as the reported test split, since GLUE's test labels are not public; labels 0/1 are named
negative/positive) or the user's CSV/TSV/JSONL files (seqlab.data.text_files: bad rows skipped
and reported with file and line, or fatal with ``data.strict``; TSV split at tabs, quotes being
text, unless ``data.tsv_quoting``; texts cut to ``data.max_chars`` characters and reported;
``SentimentTask.data_notes`` and the report's ``data`` section say all of it). Refused: training
rows that all carry one label. Labels differing only in case are noted. A WordPiece (or BPE)
vocabulary is trained on the training split and saved as the model directory's tokenizer; the
pretrained MiniLM encoder reads text through its own. Texts longer than ``data.max_length``
tokens keep their first tokens and the count is reported. Training batches are length-bucketed
(seqlab.data.batching).

Loss: cross-entropy summed over the batch (with optional label smoothing, Szegedy et al., 2016).
Metrics: accuracy, macro-F1, loss; ``report`` adds per-class precision/recall/F1 and the
confusion matrix.

Modules: ``config`` (the data settings), ``options`` (presets and flags, torch-free), ``data``
(splits, labels, tokenizer, batches), ``metrics`` (classification metrics from predictions),
``task`` (the Task), ``predictor`` (labels and confidence scores from a model directory).
"""
