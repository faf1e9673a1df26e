"""``seqlab demo``: the building blocks against torch.nn, gate values and attention weights."""

from __future__ import annotations

import argparse


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="tour the building blocks: both paths against torch.nn, gates and attention weights",
        description=(
            "Build seqlab's RNN, LSTM, GRU and Transformer encoder layer next to torch.nn's, copy "
            "the weights across, and show that the readable reference path and the fast fused "
            "path both compute what torch computes; then show an LSTM's gate values step by step "
            "and a causal attention pattern."
        ),
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    parser.set_defaults(command=run)


def run(args: argparse.Namespace) -> int:
    from seqlab.lab.demo import run_demo

    run_demo(seed=args.seed)
    return 0
