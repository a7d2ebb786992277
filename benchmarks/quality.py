"""Quality per CPU-minute on the classic tasks (issue 6), rnnkit against the same model
with torch.nn's recurrent layer, each trained for the same wall-clock budget on this CPU.

Rows (budgets as the issue sets them; ``--scale 0.1`` runs a tenth of each):

* MR sentence polarity (``rnnkit train sentiment --data mr``), 10 minutes: test accuracy,
  random initial embeddings and ``--pretrained minilm --freeze-embeddings``.
* Shakespeare characters (``rnnkit train charlm``), 15 minutes: bits per character on the
  two held-out plays, and the curve (training loss and validation bits per character).
* JapaneseVowels (``rnnkit train seqclass``), 30 epochs (about a minute): test accuracy.
* Forecasting (``rnnkit train forecast``): a rolling-origin backtest against naive,
  seasonal naive, ETS and SARIMA (``benchmarks/forecasting.py``, about 2 minutes).
* Grapheme to phoneme (``rnnkit train g2p``), 30 CPU-minutes on one thread: word and
  phoneme error rates on held-out CMUdict words, greedy and beam 5 (``benchmarks/g2p.py``).
* English to French (``rnnkit train seq2seq --data wesnoth-fr``), 10 minutes each with
  characters and with words: chrF against copying the source and a word-by-word
  dictionary (``benchmarks/seq2seq.py``; needs ``make wesnoth-fr``).
* Speech recognition (``rnnkit train speech --data spoken-digits``), 9 minutes each:
  bidirectional, streaming and bidirectional on torch.nn.LSTM (``benchmarks/speech.py``).
* Sentences from a sentiment label (``rnnkit train generator --data mr``), 5 minutes: the
  test sentences' perplexity with their own label and with the other, and samples.

The torch.nn rows swap the model's recurrent stack for a ``torch.nn.LSTM`` of the same
size and dropout (``TorchStack``); everything else -- data, tokenizer, batches, optimiser,
evaluation -- is shared. Both draw the same initial weights in the same order and compute
the same function, so step for step they learn the same: what differs is how many steps
each fits into the budget. Writes benchmarks/results/quality.md and charlm_curve.png.

    python benchmarks/quality.py                 # about an hour
    python benchmarks/quality.py --scale 0.02    # a smoke run
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import os
import sys
import tempfile
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from unittest import mock

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from forecasting import forecast_table  # noqa: E402
from g2p import g2p_table  # noqa: E402
from seq2seq import seq2seq_table  # noqa: E402
from speech import speech_table  # noqa: E402
from speed import cpu_model, table, write_atomically  # noqa: E402

from rnnkit.tasks.charlm import (  # noqa: E402
    LanguageModelConfig,
    baseline_bits_per_char,
    score_language_model,
    train_language_model,
)
from rnnkit.tasks.classify import (  # noqa: E402
    ClassifierConfig,
    baseline_accuracies,
    score_classifier,
    train_classifier,
)
from rnnkit.tasks.generator import GeneratorConfig, GeneratorPredictor, train_generator  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
TASKS = ("mr", "shakespeare", "japanese-vowels", "forecasting", "g2p", "seq2seq", "generator",
         "speech")  # fmt: skip


class TorchStack(nn.Module):
    """torch.nn.LSTM/GRU/RNN behind the interface of ``rnnkit.models.recurrent_stack``."""

    def __init__(self, input_size, cell="lstm", hidden=128, layers=1, bidirectional=False,
                 dropout=0.0, cell_options=None, regularisers=None):  # fmt: skip
        super().__init__()
        kind = {"lstm": nn.LSTM, "gru": nn.GRU, "elman": nn.RNN}[cell]
        between = dropout if layers > 1 else 0.0
        self.rnn = kind(
            input_size, hidden, layers, batch_first=True, dropout=between,
            bidirectional=bidirectional,
        )  # fmt: skip
        self.output_size = hidden * (2 if bidirectional else 1)

    def forward(self, x, state=None, lengths=None):
        if lengths is None:
            return self.rnn(x, state)
        packed = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
        y, state = self.rnn(packed, state)
        return pad_packed_sequence(y, batch_first=True, total_length=x.shape[1])[0], state


@contextmanager
def torch_nn_stack():
    with (
        mock.patch("rnnkit.models.classifier.recurrent_stack", TorchStack),
        mock.patch("rnnkit.models.language_model.recurrent_stack", TorchStack),
    ):
        yield


def run_classifier(config: ClassifierConfig, stack: str) -> dict:
    with (
        tempfile.TemporaryDirectory() as out,
        torch_nn_stack() if stack == "torch.nn" else nullcontext(),
    ):
        start = time.perf_counter()
        train_classifier(config, Path(out) / "run", False, False, quiet=True)
        wall = time.perf_counter() - start
        scores, _, _, _ = score_classifier(Path(out) / "run")
        run = json.loads((Path(out) / "run" / "task.json").read_text())
        start = time.perf_counter()
        baselines = baseline_accuracies(Path(out) / "run") if stack == "rnnkit" else {}
        baseline_wall = (time.perf_counter() - start) / max(1, len(baselines))
    return {"metric": scores["accuracy"], "wall": wall, "steps": run["extra"]["steps"],
            "baselines": {name: {"metric": accuracy, "wall": baseline_wall, "steps": "-"}
                          for name, accuracy in baselines.items()}}  # fmt: skip


def run_language_model(config: LanguageModelConfig, stack: str) -> dict:
    with (
        tempfile.TemporaryDirectory() as out,
        torch_nn_stack() if stack == "torch.nn" else nullcontext(),
    ):
        run_dir = Path(out) / "run"
        start = time.perf_counter()
        train_language_model(config, run_dir, False, False, quiet=True)
        wall = time.perf_counter() - start
        bpc, _, _, _ = score_language_model(run_dir)
        start = time.perf_counter()
        baseline, order = baseline_bits_per_char(run_dir) if stack == "rnnkit" else (None, 0)
        baseline_wall = time.perf_counter() - start
        records = [
            json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
        ]
        steps = json.loads((run_dir / "task.json").read_text())["extra"]["steps"]
    curve = {
        "train": [(r["step"], r["loss"] / 0.6931471805599453) for r in records if "loss" in r],
        "valid": [(r["step"], r["validation"]) for r in records if "validation" in r],
    }
    baselines = {} if baseline is None else {
        f"Kneser-Ney {order}-gram": {"metric": baseline, "wall": baseline_wall, "steps": "-"}}
    return {"metric": bpc, "wall": wall, "steps": steps, "curve": curve, "baselines": baselines}


def generator_table(minutes: float, judge: ClassifierConfig) -> list[str]:
    """The conditional generator on MR: perplexity of the test sentences with their own
    label and with the other; then 100 sentences generated per label, read by an MR
    classifier (``judge``, trained here): how many it files under the label they were
    generated for. Three samples per label."""
    with tempfile.TemporaryDirectory() as out:
        run_dir, judge_dir, generated = (Path(out) / name for name in ("gen", "judge", "g.csv"))
        report = train_generator(GeneratorConfig(time_budget=minutes * 60), run_dir, False,
                                 False, quiet=True)  # fmt: skip
        generator = GeneratorPredictor(run_dir)
        samples = {label: generator.generate(label, 100, seed=k)
                   for k, label in enumerate(("negative", "positive"))}  # fmt: skip
        with open(generated, "w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "label"])
            writer.writerows((s, label) for label, texts in samples.items() for s in texts)
        train_classifier(judge, judge_dir, False, False, quiet=True)
        judged, matrix, _, classes = score_classifier(judge_dir, str(generated))
    agreed = {c: int(matrix[k, k]) for k, c in enumerate(classes)}
    lines = [
        "## Sentences from a sentiment label (MR)",
        "",
        f"`rnnkit train generator --data mr --time-budget {minutes:g}m` defaults (LSTM 256, "
        "the one-hot label sets the initial state and is added to every word's input):",
        "",
        *(f"    {line}" for line in report.splitlines()),
        "",
        f"100 sentences generated per label (temperature 0.8), read by an MR classifier "
        f"(the fixed-minilm configuration above, {judge.time_budget / 60:g} min budget): it calls "
        f"{agreed['positive']} of the positive ones positive and {agreed['negative']} of the "
        f"negative ones negative ({judged['accuracy']:.0%} agree with their label; 50 % would "
        "mean the label is ignored). The first three of each:",
        "",
    ]
    for label, sentences in samples.items():
        lines += [f"- {label}: " + " / ".join(f"*{s}*" for s in sentences[:3])]
    return lines


def plot_curves(curves: dict[str, dict], path: Path) -> None:
    """Training loss (smoothed) and validation, in bits per character, against minutes of
    training: steps times the run's mean time per step."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4))
    for (name, curve), color in zip(curves.items(), ("tab:blue", "tab:orange"), strict=False):
        per_step = curve["minutes_per_step"]
        steps, loss = zip(*curve["train"], strict=True)
        window = 25
        smooth = [
            sum(loss[max(0, k - window) : k + 1]) / min(k + 1, window + 1) for k in range(len(loss))
        ]
        axes.plot(
            [k * per_step for k in steps], smooth, color=color, alpha=0.6, label=f"{name}: training"
        )
        if curve["valid"]:
            at, valid = zip(*curve["valid"], strict=True)
            axes.plot(
                [k * per_step for k in at], valid, "o-", color=color, label=f"{name}: validation"
            )
    axes.set_xlabel("minutes of training")
    axes.set_ylabel("bits per character")
    axes.set_ylim(1.2, 4.5)
    axes.legend()
    axes.set_title("Shakespeare character LSTM, equal wall-clock budgets")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def result_rows(rows: list[tuple], label: str, stack: str, metric: str, result: dict) -> list:
    """One run's table row, then its baselines' (fitted on the same split), each baseline
    once: both MR rows share the split."""
    print(label, stack, result["metric"], result["baselines"], file=sys.stderr)
    shown = {stack for _, stack, _, _ in rows}
    return [(label, stack, metric, result),
            *((label, name, metric, r) for name, r in result.pop("baselines").items()
              if name not in shown)]  # fmt: skip


def task_list(text: str) -> tuple[str, ...]:
    tasks = tuple(text.split(","))
    unknown = [task for task in tasks if task not in TASKS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown {unknown}: choose from {','.join(TASKS)}")
    return tasks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="budget multiplier (default 1)")
    parser.add_argument("--out", type=Path, default=RESULTS / "quality.md")
    parser.add_argument(
        "--tasks", type=task_list, default=TASKS,
        help=f"a comma-separated subset of {','.join(TASKS)} (default: all)",
    )  # fmt: skip
    args = parser.parse_args()
    started, load = time.perf_counter(), os.getloadavg()[0]
    minutes = lambda m: m * 60 * args.scale  # noqa: E731
    # Both MR rows: a bidirectional LSTM with max pooling over its steps and dropout 0.5
    # (on the word vectors too), keeping the epoch best on validation; they differ only in
    # where the word vectors start, and pretrained ones are kept fixed (Kim 2014's "static").
    mr = {"hidden": 128, "embedding_dim": 128, "bidirectional": True, "pooling": "max",
          "dropout": 0.5, "min_freq": 1, "epochs": 100, "patience": 5}  # fmt: skip
    pretrained = {"pretrained": "minilm", "freeze_embeddings": True}
    rows, curves = [], {}
    if "mr" in args.tasks:
        for label, extra in (("MR, random embeddings", {}), ("MR, minilm, fixed", pretrained)):
            for stack in ("rnnkit", "torch.nn"):
                config = ClassifierConfig("sentiment", "mr", time_budget=minutes(10), **mr, **extra)
                result = run_classifier(config, stack)
                rows += result_rows(rows, label, stack, "test accuracy", result)
    for stack in ("rnnkit", "torch.nn") if "shakespeare" in args.tasks else ():
        config = LanguageModelConfig(hidden=512, layers=2, epochs=100, time_budget=minutes(15))
        result = run_language_model(config, stack)
        curve = result.pop("curve")
        curves[stack] = {**curve, "minutes_per_step": result["wall"] / 60 / result["steps"]}
        rows += result_rows(rows, "Shakespeare, held-out plays", stack, "bits per character",
                            result)  # fmt: skip
    for stack in ("rnnkit", "torch.nn") if "japanese-vowels" in args.tasks else ():
        epochs = max(1, round(30 * min(1.0, args.scale * 10)))
        config = ClassifierConfig(
            "seqclass", "japanese-vowels", hidden=128, embedding_dim=64, epochs=epochs,
            patience=None,
        )  # fmt: skip
        result = run_classifier(config, stack)
        rows += result_rows(rows, "JapaneseVowels", stack, "test accuracy", result)
    if curves:
        plot_curves(curves, args.out.parent / "charlm_curve.png")

    sections = []  # issue 7's tasks, run before the header so that it times them too
    if "forecasting" in args.tasks:
        sections += ["", *forecast_table()]
    if "g2p" in args.tasks:
        sections += ["", *g2p_table(args.scale)]
    if "seq2seq" in args.tasks:
        sections += ["", *seq2seq_table(args.scale)]
    if "generator" in args.tasks:
        judge = ClassifierConfig("sentiment", "mr", time_budget=minutes(10), **mr, **pretrained)
        sections += ["", *generator_table(minutes(5) / 60, judge)]
    if "speech" in args.tasks:
        sections += ["", *speech_table(args.scale)]

    def metric(name, value):
        return f"{value:.2%}" if "accuracy" in name else f"{value:.3f}"

    body = [[label, stack, metric(name, r["metric"]), f"{r['wall'] / 60:.1f}", str(r["steps"])]
            for label, stack, name, r in rows]  # fmt: skip
    lines = [
        "# rnnkit on the classic tasks: quality per CPU-minute",
        "",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- {cpu_model()}; torch {torch.__version__}, {torch.get_num_threads()} threads, "
        f"load average at start {load:.2f}",
        f"- command: `python benchmarks/quality.py --scale {args.scale}"
        f"{'' if args.tasks == TASKS else ' --tasks ' + ','.join(args.tasks)}` (whole run: "
        f"{(time.perf_counter() - started) / 60:.0f} min)",
        "- MR: accuracy on the 10 % test split; Shakespeare: bits per character on the two "
        "held-out plays; JapaneseVowels: accuracy on the official test set",
        "- wall = training plus the evaluations during it, in minutes, on this machine",
        "- MR rows: bidirectional LSTM, 128 units each way, max pooling, dropout 0.5, early "
        "stopping after 5 epochs without a better validation accuracy, the best epoch's "
        "weights; `minilm, fixed` = `--pretrained minilm --freeze-embeddings`",
        "- baselines (the rows that are not rnnkit or torch.nn), fitted on the same training "
        "split and scored on the same test examples, wall = fitting and scoring: TF-IDF of word "
        "1-2-grams + logistic regression and NBSVM (Wang & Manning 2012) for MR, summary "
        "statistics + logistic regression for JapaneseVowels, an interpolated Kneser-Ney "
        "character n-gram (order chosen on validation) for Shakespeare",
    ]
    lines += table(["task", "model", "score", "wall min", "steps"], body, text_columns=2)
    lines += ["", "![Shakespeare learning curves](charlm_curve.png)", *sections]
    text = "\n".join(lines) + "\n"
    print(text)
    write_atomically(args.out, text)


if __name__ == "__main__":
    main()
