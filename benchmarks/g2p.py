"""The grapheme-to-phoneme rows of benchmarks/quality.py (issue 7): ``rnnkit train g2p``
with its defaults, trained and scored within 30 CPU-minutes, on one thread so that a
CPU-minute is a minute.

CMUdict's words are split 88/2/10 (all pronunciations of a word in one split); the model
trains on the first part, keeps its best epoch on the second and is scored on the held-out
10 %: word error rate (no reference pronunciation matched exactly) and phoneme error rate
(edits to the closest reference over its length), greedy and with a beam of 5.
Published LSTM results on CMUdict (Rao et al., ICASSP 2015): WER 25.8 % (bidirectional
LSTM with CTC), 21.3 % combined with an n-gram model.

    python benchmarks/g2p.py     # about 30 minutes; writes results/g2p.md
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import table, write_report  # noqa: E402

from rnnkit.cli import parser  # noqa: E402
from rnnkit.tasks.seq2seq import score_seq2seq  # noqa: E402
from rnnkit.tasks.seq2seq_commands import G2P  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
#: Of the 30 CPU-minutes, the rest is left for scoring 12,605 words twice (about 2 min).
TRAINING_MINUTES = 27


def g2p_table(scale: float = 1.0) -> list[str]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as out:
        run_dir = Path(out) / "run"
        args = parser().parse_args(["train", "g2p", "--out", str(run_dir), "--quiet",
                                    "--time-budget", f"{TRAINING_MINUTES * 60 * scale}s"])
        args.epochs = args.default_epochs  # the budget caps the default epochs, as without it
        wall, cpu = time.perf_counter(), time.process_time()
        G2P.train(args)
        trained_cpu = time.process_time() - cpu
        scores = score_seq2seq(run_dir)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        run = json.loads((run_dir / "task.json").read_text())
    torch.set_num_threads(threads)
    config, extra = run["config"], run["extra"]
    rows = [
        [name, f"{scores[beam]['wer']:.2%}", f"{scores[beam]['per']:.2%}"]
        for name, beam in (("greedy", 1), ("beam 5", 5))
    ]
    return [
        "## Grapheme to phoneme (CMUdict)",
        "",
        f"- command: `python benchmarks/g2p.py` = `rnnkit train g2p` defaults: "
        f"{config['layers']}-layer bidirectional LSTM encoder and LSTM decoder, "
        f"{config['hidden']} units, {config['attention']} attention, dropout "
        f"{config['dropout']:g}, label smoothing {config['label_smoothing']:g}, "
        f"{config['epochs']} epochs with a {config['schedule']} learning rate, one thread",
        f"- {scores['examples']} held-out words; {extra['steps']} steps, {extra['epochs']} "
        f"epochs; CPU time {trained_cpu / 60:.1f} min training, {cpu / 60:.1f} min with "
        f"scoring (wall {wall / 60:.1f} min); target (issue 21): WER <= 25.8 % within 30 "
        "CPU-minutes",
        "- reference: Rao et al. 2015, LSTM: WER 25.8 % (21.3 % with an n-gram model)",
        *table(["decoding", "word error rate", "phoneme error rate"], rows, text_columns=1),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="budget multiplier (default 1)")
    args = parser.parse_args()
    write_report(RESULTS / "g2p.md", "rnnkit on grapheme to phoneme", g2p_table(args.scale))


if __name__ == "__main__":
    main()
