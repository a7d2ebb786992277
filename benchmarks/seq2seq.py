"""The translation rows of benchmarks/quality.py (issue 21): ``rnnkit train seq2seq --data
wesnoth-fr`` with its defaults, 10 minutes of training, against copying the source and a
word-by-word dictionary of the training pairs, scored on the same held-out sentences.

wesnoth-fr is 5,620 English -> French sentence pairs (Debian's Wesnoth catalogs,
``make wesnoth-fr``), split 80/10/10 by source sentence. The model is trained once with
characters on both sides (the default) and once with words; chrF (Popović 2015, sacrebleu)
is a character n-gram F-score, comparable across both and with the baselines.

    make wesnoth-fr && python benchmarks/seq2seq.py     # about 22 minutes
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

from rnnkit.tasks.seq2seq import Seq2SeqConfig, score_seq2seq, train_seq2seq  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TOKENS = (("char", "char"), ("word", "word"))


def seq2seq_table(scale: float = 1.0) -> list[str]:
    rows, baselines, examples = [], {}, 0
    for source_tokens, target_tokens in TOKENS:
        config = Seq2SeqConfig(
            "seq2seq", "wesnoth-fr", source_tokens, target_tokens, epochs=None,
            time_budget=10 * 60 * scale,
        )  # fmt: skip
        with tempfile.TemporaryDirectory() as out:
            wall = time.perf_counter()
            summary = train_seq2seq(config, Path(out) / "run", False, False, quiet=True)
            wall = time.perf_counter() - wall
            scores = score_seq2seq(Path(out) / "run")
        steps = summary.split(" steps", 1)[0]
        label = f"rnnkit, {source_tokens}s -> {target_tokens}s"
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
        "units, additive attention), characters or words on both sides",
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
