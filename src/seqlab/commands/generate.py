"""``seqlab generate DIR --prompt TEXT``: continue a text with a trained language model, printing
each piece as it is produced.

Sampling (seqlab.infer.sampling): ``--temperature`` divides the logits (0, or ``--greedy``, takes
the most likely token every step), ``--top-k`` keeps the k most likely tokens, ``--top-p`` the
smallest set whose probability reaches p; ``--seed`` makes the text repeatable. ``--json`` prints
one object at the end instead of streaming.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from seqlab.errors import SeqlabError


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="continue a text with a trained language model",
        description=(
            "Continue --prompt with the language model in DIR, printing the new text as it is "
            "produced. --json prints one JSON object "
            '{"prompt": ..., "text": ..., "tokens": N} when done.'
        ),
    )
    parser.add_argument("model_dir", type=Path, metavar="DIR", help="a language-model directory")
    parser.add_argument(
        "--prompt", default="", help="the text to continue (default: empty, a fresh start)"
    )
    parser.add_argument(
        "--max-tokens", type=int, default=500, metavar="N", help="new tokens (default: 500)"
    )
    parser.add_argument(
        "--temperature",
        type=float,
        default=1.0,
        metavar="T",
        help="divide the logits by T (default 1; 0: the most likely token every step)",
    )
    parser.add_argument("--top-k", type=int, metavar="K", help="sample from the K most likely")
    parser.add_argument(
        "--top-p",
        type=float,
        metavar="P",
        help="sample from the smallest set of tokens whose probability reaches P",
    )
    parser.add_argument("--greedy", action="store_true", help="the same as --temperature 0")
    parser.add_argument("--seed", type=int, help="a seed, for the same text every time")
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end")
    parser.set_defaults(command=run)


def _check_task(model_dir: Path) -> None:
    """A directory of another task is refused from its config.json, before its weights load."""
    from seqlab.model_dir import ModelDir
    from seqlab.tasks.directory_checks import read_model_config

    task = read_model_config(ModelDir(model_dir))["task"]
    if task != "lm":
        raise SeqlabError(
            f"{model_dir} holds a '{task}' model, which does not generate text; train one with "
            "'seqlab train lm'"
        )


def run(args: argparse.Namespace) -> int:
    if args.max_tokens < 1:
        raise SeqlabError(f"--max-tokens ({args.max_tokens}) must be at least 1")
    _check_task(args.model_dir)
    import seqlab

    predictor = seqlab.load(args.model_dir)
    options = {
        "max_new_tokens": args.max_tokens,
        "temperature": 0.0 if args.greedy else args.temperature,
        "top_k": args.top_k,
        "top_p": args.top_p,
        "seed": args.seed,
    }
    if args.json:
        ids = list(predictor.generate_ids(args.prompt, **options))
        text = predictor.decode(ids)
        print(json.dumps({"prompt": args.prompt, "text": text, "tokens": len(ids)}))
        return 0
    pieces = predictor.generate(args.prompt, stream=True, **options)  # checks every option
    sys.stdout.write(args.prompt)
    for piece in pieces:
        sys.stdout.write(piece)
        sys.stdout.flush()  # each piece as it is produced, not when the buffer fills
    sys.stdout.write("\n")
    return 0
