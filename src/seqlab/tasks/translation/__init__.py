"""The translation task: Multi30k or any parallel corpus, a Transformer encoder-decoder or a
recurrent encoder-decoder with attention, BLEU and chrF, beam search, and documents of any
length (seqlab.infer.long_documents)."""
