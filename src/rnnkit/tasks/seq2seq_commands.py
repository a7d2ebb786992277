"""The sequence-to-sequence tasks of ``rnnkit`` (their model and training:
``rnnkit.tasks.seq2seq``):

rnnkit train g2p [--attention additive|multiplicative] [--sampling 0.25] --out DIR
rnnkit train seq2seq --data pairs.tsv [--source-tokens word|char|subword]
    [--target-tokens ...] --out DIR
rnnkit translate DIR "recurrent" [--beam 5] [--plot attention.png]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnkit.arguments import add_epochs_option, add_run_options, duration, positive, rate
from rnnkit.cells import CELLS
from rnnkit.data.tokenizers import KINDS
from rnnkit.models.attention import ATTENTIONS
from rnnkit.tasks.interface import Task
from rnnkit.tasks.seq2seq import TranslatorPredictor
from rnnkit.train.schedule import SCHEDULES


class Seq2SeqTask(Task):
    """``rnnkit train g2p`` (CMUdict) and ``rnnkit train seq2seq`` (the user's pairs)."""

    commands = ("evaluate", "translate")
    predictor = TranslatorPredictor

    def __init__(self, name: str, help: str, description: str) -> None:
        self.name, self.help, self.description = name, help, description

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        _add_training_options(parser, g2p=self.name == "g2p")

    def train(self, args: argparse.Namespace) -> str:
        from rnnkit.tasks.seq2seq import Seq2SeqConfig, train_seq2seq

        config = Seq2SeqConfig(
            self.name, args.data, getattr(args, "source_tokens", "char"),
            getattr(args, "target_tokens", "word"), args.cell, args.hidden, args.layers,
            args.bidirectional, args.embedding_dim, args.dropout, args.attention, args.sampling,
            args.batch_size, args.lr, args.schedule, args.epochs, args.time_budget,
            args.patience, args.beam, args.length_penalty, args.seed,
            label_smoothing=args.label_smoothing,
        )  # fmt: skip
        return train_seq2seq(config, args.out, args.resume, args.overwrite, args.quiet)

    def evaluate(self, run: Path, data: str | None) -> str:
        from rnnkit.tasks.seq2seq import evaluate_seq2seq

        return evaluate_seq2seq(run, data)


G2P = Seq2SeqTask(
    "g2p",
    "spelling to pronunciation (encoder-decoder with attention) on CMUdict",
    "Trains on 88 %% of CMUdict's words, stops early on 2 %%, and reports word and phoneme "
    "error rates on the held-out 10 %%, greedy and with beam search.",
)
SEQ2SEQ = Seq2SeqTask(
    "seq2seq",
    "any sequence-to-sequence task from a source<TAB>target file",
    "Trains an encoder-decoder with attention on a TSV file or wesnoth-fr (split 80/10/10 "
    "by source) and reports word and token error rates and chrF on its test part, with "
    "copying the source and a word-by-word dictionary as baselines.",
)


def _add_training_options(command: argparse.ArgumentParser, g2p: bool) -> None:
    add = command.add_argument
    if g2p:
        add("--data", default="cmudict", help=argparse.SUPPRESS)
    else:
        add("--data", required=True,
            help="a .tsv file (source TAB target on every line), or wesnoth-fr: English -> "
            "French sentences (after `make wesnoth-fr`)")  # fmt: skip
        # Words on both sides, with dropout 0.3, label smoothing 0.1 and patience 10: on
        # wesnoth-fr the best chrF in 10 minutes (benchmarks/results/seq2seq.md).
        # Subwords (pieces fitted on the training side, rnnkit.data.subwords) scored below
        # words there (benchmarks/results/subwords.md).
        add("--source-tokens", choices=KINDS, default="word")
        add("--target-tokens", choices=KINDS, default="word")
    add("--cell", choices=sorted(CELLS), default="lstm")
    add("--hidden", type=positive, default=256, help="hidden size (default 256)")
    # g2p: two encoder layers and label smoothing 0.1 reached a WER 0.9 points lower than
    # one layer without smoothing, in the same 27 CPU-minutes, and dropout 0.1 instead of
    # 0.2 another 1.4 (issue 21's runs): five epochs underfit 100,000 words. Sentence
    # pairs are fewer (thousands, not 100,000 words): more dropout, and more patience, for
    # their token error rate after each epoch swings by several points.
    layers, dropout, patience = (2, 0.1, 5) if g2p else (1, 0.3, 10)
    add("--layers", type=positive, default=layers, help=f"encoder layers (default {layers})")
    add("--bidirectional", action=argparse.BooleanOptionalAction, default=True,
        help="a bidirectional encoder (default)")  # fmt: skip
    add("--embedding-dim", type=positive, default=128)
    add("--dropout", type=rate, default=dropout, help=f"(default {dropout})")
    add(
        "--attention",
        choices=sorted(ATTENTIONS),
        default="additive",
        help="Bahdanau's additive or Luong's multiplicative score (default additive)",
    )
    add("--sampling", type=rate, default=0.0,
        help="scheduled sampling: the share of steps fed the model's own previous "
        "token, reached linearly by the last epoch (default 0: teacher forcing)")  # fmt: skip
    # g2p's defaults fit its training into about 27 CPU-minutes, the learning rate
    # decaying to 0 by the last epoch.
    epochs, schedule = (6, "cosine") if g2p else (30, "constant")
    add_epochs_option(command, epochs)
    add("--label-smoothing", type=rate, default=0.1,
        help="the share of each target's probability spread over all tokens (default 0.1)")
    add("--schedule", choices=SCHEDULES, default=schedule,
        help=f"of the learning rate; cosine decays it to 0 by the last epoch "
        f"(default {schedule})")  # fmt: skip
    add("--patience", type=positive, default=patience,
        help=f"early stopping, in epochs (default {patience})")  # fmt: skip
    add("--time-budget", type=duration, default=None, help="e.g. 90s, 15m")
    add("--lr", type=float, default=2e-3)
    add("--batch-size", type=positive, default=64)
    add("--beam", type=positive, default=5, help="beam width of translate (default 5)")
    add("--length-penalty", type=_non_negative, default=0.6,
        help="alpha of the beam's length normalisation (default 0.6; 0: none)")  # fmt: skip
    add_run_options(command)


def add_translate_command(commands) -> None:
    """``rnnkit translate``."""
    command = commands.add_parser(
        "translate", help="run a g2p or seq2seq model on a text (spelling -> phonemes)"
    )
    command.add_argument("run", type=Path, help="the run directory of rnnkit train g2p|seq2seq")
    command.add_argument("text")
    command.add_argument("--beam", type=positive, default=None,
                         help="beam width (default: the run's, 5; 1 is greedy)")  # fmt: skip
    command.add_argument("--plot", type=Path, default=None, help="draw the attention weights")


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {text!r}")
    return value


def translate(args: argparse.Namespace, predictor) -> str:
    """``rnnkit translate RUN TEXT``: the ``TranslatorPredictor``'s output, as a line."""
    result = predictor.translate(args.text, args.beam)
    line = f"{args.text.strip()} -> {result.text}"
    if args.plot:
        plot_attention(args.plot, result.source, result.output, result.attention, title=line)
        line += f"\nattention drawn in {args.plot}"
    return line


def plot_attention(path: Path, source: list[str], output: list[str], weights, title="") -> None:
    """A heat map: one row per output token, one column per source token."""
    from rnnkit.tasks.figures import save_png, subplots

    figure, axes = subplots(figsize=(2 + 0.45 * len(source), 1.5 + 0.4 * len(output)))
    image = axes.imshow(weights.numpy(), cmap="viridis", vmin=0, vmax=1, aspect="auto")
    axes.set_xticks(range(len(source)), source)
    axes.set_yticks(range(len(output)), output)
    axes.set_xlabel("source")
    axes.set_ylabel("output")
    axes.set_title(title)
    figure.colorbar(image, ax=axes, label="attention weight")
    save_png(figure, path)
