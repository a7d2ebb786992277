"""Subword tokens against words (issue 21), in one run: ``--tokens subword`` (a unigram
language model of word pieces fitted on the training side, ``rnnkit.data.subwords``) for
sentiment and for seq2seq, each beside the same command with words.

* MR, embeddings learnt from random ones (``--pretrained none``): ``rnnkit train
  sentiment`` defaults otherwise (10-minute budget, early stopping), seeds 0, 1 and 2 --
  the seed also draws the 80/10/10 split, so each seed is a paired comparison.
* wesnoth-fr, English -> French: ``rnnkit train seq2seq`` defaults (10 minutes), words or
  subwords on both sides; chrF with a beam of 5.

    make wesnoth-fr && OMP_NUM_THREADS=1 python benchmarks/subwords.py   # about 45 minutes
    python benchmarks/subwords.py --scale 0.02                           # a smoke run
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sentiment import train_with_defaults  # noqa: E402
from speed import cpu_model, table, write_report  # noqa: E402

from rnnkit.arguments import resolve_epochs  # noqa: E402
from rnnkit.cli import parser  # noqa: E402
from rnnkit.data.subwords import SIZE  # noqa: E402
from rnnkit.tasks.seq2seq import score_seq2seq  # noqa: E402
from rnnkit.tasks.seq2seq_commands import SEQ2SEQ  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TOKENS = ("word", "subword")
SEEDS = (0, 1, 2)


def sentiment_rows(scratch: Path, scale: float) -> list[list[str]]:
    accuracies: dict[str, list[float]] = {tokens: [] for tokens in TOKENS}
    for seed in SEEDS:
        for tokens in TOKENS:
            options = ("--pretrained", "none", "--tokens", tokens, "--seed", str(seed))
            result = train_with_defaults("mr", scratch / f"mr-{tokens}-{seed}", scale, options)
            print(tokens, seed, result, file=sys.stderr)
            accuracies[tokens].append(result["accuracy"])
    words = accuracies["word"]
    return [[tokens, *(f"{a:.2%}" for a in found), f"{statistics.mean(found):.2%}",
             f"{100 * statistics.mean(f - w for f, w in zip(found, words, strict=True)):+.1f}"]
            for tokens, found in accuracies.items()]  # fmt: skip


def seq2seq_rows(scratch: Path, scale: float) -> list[list[str]]:
    rows, chrf = [], {}
    for tokens in TOKENS:
        out = scratch / f"enfr-{tokens}"
        args = parser().parse_args([
            "train", "seq2seq", "--data", "wesnoth-fr", "--source-tokens", tokens,
            "--target-tokens", tokens, "--out", str(out), "--quiet",
            "--time-budget", f"{10 * 60 * scale}s"])  # fmt: skip
        resolve_epochs(args)
        wall = time.perf_counter()
        summary = SEQ2SEQ.train(args)
        wall = time.perf_counter() - wall
        scores = score_seq2seq(out)
        chrf[tokens] = scores[5]["chrf"]
        rows.append([tokens, f"{scores[5]['chrf']:.1f}", f"{scores[5]['wer']:.1%}",
                     f"{chrf[tokens] - chrf['word']:+.1f}", f"{wall / 60:.1f}",
                     summary.split(" steps", 1)[0]])  # fmt: skip
    rows += [[name, f"{value:.1f}", "", "", "", ""] for name, value in scores["baselines"].items()]
    return rows


def main() -> None:
    parse = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parse.add_argument("--scale", type=float, default=1.0, help="budget multiplier (default 1)")
    args = parse.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        sentiment = sentiment_rows(Path(scratch), args.scale)
        translation = seq2seq_rows(Path(scratch), args.scale)
    sections = [
        f"- {cpu_model()}; {torch.get_num_threads()} torch threads; command: "
        f"`OMP_NUM_THREADS={torch.get_num_threads()} python benchmarks/subwords.py --scale "
        f"{args.scale}`",
        f"- subwords: at most {SIZE} pieces, fitted on the training side (SentencePiece's "
        "unigram model, Kudo 2018); words: the tokenizer's words and punctuation marks",
        "",
        "## MR, embeddings from random ones (`--pretrained none`)",
        "",
        "`rnnkit train sentiment --data mr --pretrained none --tokens word|subword --seed S`, "
        "the defaults otherwise; test accuracy on the seed's 10 % split; the last column is "
        "the mean of the paired differences from words.",
        *table(["tokens", *(f"seed {s}" for s in SEEDS), "mean", "vs words (points)"],
               sentiment),  # fmt: skip
        "",
        "## English to French (wesnoth-fr)",
        "",
        "`rnnkit train seq2seq --data wesnoth-fr --source-tokens T --target-tokens T "
        "--time-budget 10m`, the defaults otherwise; held-out chrF and sentence error rate "
        "with a beam of 5; the baselines are scored on the same sentences.",
        *table(["tokens", "chrF", "sentence error", "chrF vs words", "wall min", "steps"],
               translation),  # fmt: skip
    ]
    write_report(RESULTS / "subwords.md", "Subword tokens against words", sections)


if __name__ == "__main__":
    main()
