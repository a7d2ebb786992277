"""The translation rows of benchmarks/quality.py (issue 21): ``rnnkit train seq2seq --data
wesnoth-fr`` with its defaults, 10 minutes of training, against copying the source and a
word-by-word dictionary of the training pairs, scored on the same held-out sentences.

wesnoth-fr is 5,620 English -> French sentence pairs (Debian's Wesnoth catalogs,
``make wesnoth-fr``), split 80/10/10 by source sentence. The model is trained once with
words on both sides (the default) and once with characters; chrF (Popović 2015, sacrebleu)
is a character n-gram F-score, comparable across both and with the baselines.

    make wesnoth-fr && python benchmarks/seq2seq.py     # about 21 minutes
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import table, write_report  # noqa: E402

from rnnkit.arguments import resolve_epochs  # noqa: E402
from rnnkit.cli import parser  # noqa: E402
from rnnkit.tasks.seq2seq import score_seq2seq  # noqa: E402
from rnnkit.tasks.seq2seq_commands import SEQ2SEQ  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TOKENS = ("word", "char")


def seq2seq_table(scale: float = 1.0) -> list[str]:
    rows, baselines, examples = [], {}, 0
    for tokens in TOKENS:
        with tempfile.TemporaryDirectory() as out:
            # ``rnnkit train seq2seq`` as the command line runs it, with its defaults
            args = parser().parse_args([
                "train", "seq2seq", "--data", "wesnoth-fr", "--source-tokens", tokens,
                "--target-tokens", tokens, "--out", str(Path(out) / "run"), "--quiet",
                "--time-budget", f"{10 * 60 * scale}s"])  # fmt: skip
            resolve_epochs(args)
            wall = time.perf_counter()
            summary = SEQ2SEQ.train(args)
            wall = time.perf_counter() - wall
            scores = score_seq2seq(args.out)
        steps = summary.split(" steps", 1)[0]
        label = f"rnnkit, {tokens}s -> {tokens}s"
        for name, beam in (("greedy", 1), ("beam 5", 5)):
            rows.append([label, name, f"{scores[beam]['chrf']:.1f}", f"{scores[beam]['wer']:.1%}",
                         f"{wall / 60:.1f}", steps])  # fmt: skip
        baselines, examples = scores["baselines"], scores["examples"]
    rows += [[name, "", f"{value:.1f}", "", "", ""] for name, value in baselines.items()]
    return [
        "## English to French (wesnoth-fr)",
        "",
        "- command: `python benchmarks/seq2seq.py` = `rnnkit train seq2seq --data wesnoth-fr "
        "--time-budget 10m` with its defaults (bidirectional LSTM encoder, LSTM decoder, 256 "
        "units, additive attention, dropout 0.3, label smoothing 0.1, early stopping on the "
        "validation token error rate with patience 10), words or characters on both sides",
        f"- {examples} held-out English sentences, one French reference each; chrF (sacrebleu) "
        "and the share of sentences not matched exactly; wall = training and the validation "
        f"after each epoch; torch threads: {torch.get_num_threads()}",
        *table(["model", "decoding", "chrF", "sentence error", "wall min", "steps"], rows,
               text_columns=2),  # fmt: skip
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="budget multiplier (default 1)")
    args = parser.parse_args()
    write_report(RESULTS / "seq2seq.md", "rnnkit on English to French", seq2seq_table(args.scale))


if __name__ == "__main__":
    main()
