"""The task commands of the ``rnnkit`` command line (``rnnkit.cli`` wires them in):

rnnkit train sentiment|charlm|seqclass [--data NAME_OR_PATH] [--cell lstm] ... --out DIR
rnnkit evaluate DIR [--data PATH]
rnnkit generate DIR --prime "ROMEO:" --length 500 --temperature 0.8
rnnkit train generator --data mr --out DIR;  rnnkit generate DIR --condition positive
rnnkit predict DIR "He ate the pie happily" --trace [--plot trace.png]
rnnkit train forecast ... and rnnkit forecast DIR ...: rnnkit.tasks.forecast_commands
rnnkit train g2p|seq2seq ... and rnnkit translate DIR ...: rnnkit.tasks.seq2seq_commands
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rnnkit.arguments import add_run_options, duration, positive, rate
from rnnkit.cells import CELLS
from rnnkit.data.pretrained import PRETRAINED
from rnnkit.models import POOLINGS
from rnnkit.tasks import forecast_commands, seq2seq_commands


def add_train_tasks(tasks) -> None:
    """``rnnkit train sentiment|charlm|seqclass|generator`` (and forecast, g2p, seq2seq)."""
    sentiment = tasks.add_parser(
        "sentiment",
        help="classify texts (many-to-one); named data: mr",
        description="Trains a word-level classifier; saves model, tokenizer and settings in --out.",
    )
    seqclass = tasks.add_parser(
        "seqclass",
        help="classify real-valued sequences; named data: japanese-vowels",
        description="Trains a classifier of multivariate sequences; saves it in --out.",
    )
    charlm = tasks.add_parser(
        "charlm",
        help="character-level language model (many-to-many); named data: shakespeare",
        description="Trains with truncated BPTT, reports bits per character; saves it in --out.",
    )
    defaults = ((sentiment, "mr", 128, 10), (seqclass, "japanese-vowels", 128, 30),
                (charlm, "shakespeare", 512, 1))  # fmt: skip
    for command, data, hidden, epochs in defaults:
        add = command.add_argument
        add("--data", default=data, help=f"a named data set or a file (default {data})")
        add("--cell", choices=sorted(CELLS), default="lstm")
        add("--hidden", type=positive, default=hidden, help=f"hidden size (default {hidden})")
        add("--layers", type=positive, default=1 if command is not charlm else 2)
        add("--embedding-dim", type=positive, default=128)
        add("--dropout", type=rate, default=0.3 if command is not charlm else 0.2)
        add("--epochs", type=positive, default=epochs)
        add("--time-budget", type=duration, default=None, help="e.g. 90s, 10m, 1.5h")
        add("--lr", type=float, default=2e-3)
        add("--batch-size", type=positive, default=32 if command is not charlm else 64)
        add_run_options(command)
        if command is not charlm:
            add("--bidirectional", action="store_true")
            add("--pooling", choices=POOLINGS, default="last")
            add("--patience", type=positive, default=None, help="early stopping, in epochs")
            add("--label-column", default="label")
    sentiment.add_argument("--text-column", default="text")
    sentiment.add_argument("--vocab-size", type=positive, default=20000)
    sentiment.add_argument("--min-freq", type=positive, default=1)
    sentiment.add_argument(
        "--pretrained", choices=PRETRAINED, default=None,
        help="start the word embeddings from a pretrained model's (all-MiniLM-L6-v2, 384-wide)",
    )  # fmt: skip
    sentiment.add_argument(
        "--freeze-embeddings", action="store_true",
        help="keep the --pretrained embeddings fixed instead of training them on",
    )  # fmt: skip
    _add_generator_training(tasks)
    forecast_commands.add_forecast_training(tasks)
    seq2seq_commands.add_seq2seq_training(tasks)
    seqclass.add_argument("--id-column", default="id", help="long-format CSV: the sequence")
    seqclass.add_argument("--time-column", default="time", help="long-format CSV: the step order")
    charlm.add_argument("--steps", type=positive, default=100, help="truncated-BPTT length")
    charlm.add_argument("--validate-chars", type=positive, default=100_000)


def _add_generator_training(tasks) -> None:
    """``rnnkit train generator``."""
    command = tasks.add_parser(
        "generator",
        help="generate sentences from a class label (one-to-many); named data: mr",
        description="Trains a word-level language model whose initial state comes from the "
        "label (which, unless --state-only, is also added to every word's input); reports "
        "test perplexity with the true label and with another; saves it in --out.",
    )
    add = command.add_argument
    add("--data", default="mr", help="mr or a CSV/TSV of labelled texts (default mr)")
    add("--text-column", default="text")
    add("--label-column", default="label")
    add("--cell", choices=sorted(CELLS), default="lstm")
    add("--hidden", type=positive, default=256)
    add("--layers", type=positive, default=1)
    add("--embedding-dim", type=positive, default=128)
    add("--dropout", type=rate, default=0.3)
    add("--min-freq", type=positive, default=2, help="rarer words become <unk> (default 2)")
    add("--epochs", type=positive, default=15)
    add("--patience", type=positive, default=3, help="early stopping, in epochs")
    add("--time-budget", type=duration, default=None, help="e.g. 90s, 10m")
    add("--lr", type=float, default=2e-3)
    add("--batch-size", type=positive, default=32)
    add("--state-only", action="store_true",
        help="the label sets only the initial state (default: it is also added to every "
        "word's input, which the model cannot forget)")  # fmt: skip
    add_run_options(command)


def add_commands(commands) -> None:
    """``rnnkit evaluate``, ``generate`` and ``predict``."""
    evaluate = commands.add_parser("evaluate", help="score a trained model on test data")
    evaluate.add_argument("run", type=Path, help="the run directory of rnnkit train")
    evaluate.add_argument("--data", default=None, help="a file to score (default: the test split)")
    generate = commands.add_parser(
        "generate", help="sample text from a charlm model, or sentences from a generator model"
    )
    generate.add_argument("run", type=Path)
    generate.add_argument(
        "--prime",
        default=None,
        help="text to start from (default: charlm a newline, generator none)",
    )
    generate.add_argument(
        "--length",
        type=positive,
        default=None,
        help="characters (charlm, default 500) or most words per sentence (generator, default 40)",
    )
    generate.add_argument("--condition", default=None, help="generator: the class to generate")
    generate.add_argument("--count", type=positive, default=5, help="generator: sentences (5)")
    generate.add_argument("--temperature", type=float, default=0.8)
    generate.add_argument("--top-k", type=positive, default=None)
    generate.add_argument("--top-p", type=float, default=None)
    generate.add_argument("--seed", type=int, default=None)
    predict = commands.add_parser("predict", help="classify a text with a sentiment model")
    predict.add_argument("run", type=Path)
    predict.add_argument("text")
    predict.add_argument("--trace", action="store_true", help="the prediction after every word")
    predict.add_argument("--plot", type=Path, default=None, help="draw the trace into this PNG")
    forecast_commands.add_forecast_command(commands)
    seq2seq_commands.add_translate_command(commands)


def train(args: argparse.Namespace) -> str:
    if args.task == "forecast":
        return forecast_commands.train(args)
    if args.task in ("g2p", "seq2seq"):
        return seq2seq_commands.train(args)
    if args.task == "generator":
        from rnnkit.tasks.generator import GeneratorConfig, train_generator

        config = GeneratorConfig(
            args.data, args.cell, args.hidden, args.layers, args.embedding_dim, args.dropout,
            args.min_freq, args.batch_size, args.lr, args.epochs, args.time_budget,
            args.patience, args.seed,
            {"text_column": args.text_column, "label_column": args.label_column},
            every_step=not args.state_only,
        )  # fmt: skip
        return train_generator(config, args.out, args.resume, args.overwrite, args.quiet)
    if args.task == "charlm":
        from rnnkit.tasks.charlm import LanguageModelConfig, train_language_model

        config = LanguageModelConfig(
            args.data, args.cell, args.hidden, args.layers, args.embedding_dim, args.dropout,
            args.batch_size, args.steps, args.lr, args.epochs, args.time_budget,
            args.validate_chars, args.seed,
        )  # fmt: skip
        return train_language_model(config, args.out, args.resume, args.overwrite, args.quiet)
    from rnnkit.tasks.classify import ClassifierConfig, train_classifier

    names = (
        ("text_column", "label_column")
        if args.task == "sentiment"
        else ("id_column", "time_column", "label_column")
    )
    config = ClassifierConfig(
        args.task, args.data, args.cell, args.hidden, args.layers, args.bidirectional,
        args.pooling, args.embedding_dim, args.dropout,
        getattr(args, "vocab_size", 20000), getattr(args, "min_freq", 1), args.batch_size,
        args.lr, args.epochs, args.time_budget, args.patience, args.seed,
        {name: getattr(args, name) for name in names}, getattr(args, "pretrained", None),
        getattr(args, "freeze_embeddings", False),
    )  # fmt: skip
    return train_classifier(config, args.out, args.resume, args.overwrite, args.quiet)


def evaluate(args: argparse.Namespace) -> str:
    from rnnkit.tasks.run import load_run

    task = load_run(args.run, ("sentiment", "seqclass", "charlm", "g2p", "seq2seq"))["task"]
    if task in ("g2p", "seq2seq"):
        from rnnkit.tasks.seq2seq import evaluate_seq2seq

        return evaluate_seq2seq(args.run, args.data)
    if task == "charlm":
        from rnnkit.tasks.charlm import evaluate_language_model

        return evaluate_language_model(args.run, args.data)
    from rnnkit.tasks.classify import evaluate_classifier

    return evaluate_classifier(args.run, args.data)


def forecast(args: argparse.Namespace) -> str:
    return forecast_commands.forecast(args)


def translate(args: argparse.Namespace) -> str:
    return seq2seq_commands.translate(args)


def generate(args: argparse.Namespace) -> str:
    from rnnkit.tasks.run import load_run

    if load_run(args.run, ("charlm", "generator"))["task"] == "generator":
        from rnnkit.tasks.generator import generate_sentences

        if args.condition is None:
            raise ValueError(f"--condition is needed: {args.run} generates sentences of a class")
        return "\n".join(generate_sentences(
            args.run, args.condition, args.count, args.length or 40, args.prime,
            args.temperature, args.top_k, args.top_p, args.seed,
        ))  # fmt: skip
    if args.condition is not None:
        raise ValueError(f"--condition is for generator runs; {args.run} is a charlm run")
    from rnnkit.tasks.charlm import generate_text

    prime = "\n" if args.prime is None else args.prime
    return generate_text(
        args.run, prime, args.length or 500, args.temperature, args.top_k, args.top_p, args.seed
    )


def predict(args: argparse.Namespace) -> str:
    from rnnkit.tasks.classify import predict_text

    words, classes, probabilities = predict_text(args.run, args.text)
    final = probabilities[-1]
    best = int(final.argmax())
    lines = [f"{classes[best]} ({float(final[best]):.1%}): {args.text}"]
    if args.trace or args.plot:
        width = max(len(w) for w in words) + 2
        lines.append("after".ljust(width) + "".join(f"P({c})".rjust(14) for c in classes))
        for word, row in zip(words, probabilities, strict=True):
            lines.append(word.ljust(width) + "".join(f"{float(p):14.3f}" for p in row))
    if args.plot:
        _plot_trace(args.plot, args.text, words, classes, probabilities)
        lines.append(f"trace drawn in {args.plot}")
    return "\n".join(lines)


def _plot_trace(path: Path, text: str, words, classes, probabilities) -> None:
    from rnnkit.tasks.figures import save_png, subplots

    figure, axes = subplots(figsize=(max(4, 0.9 * len(words) + 2), 3.2))
    for k, name in enumerate(classes):
        axes.plot(range(len(words)), probabilities[:, k].numpy(), marker="o", label=f"P({name})")
    axes.set_xticks(range(len(words)), words)
    axes.set_ylim(0, 1)
    axes.set_ylabel("probability after the word")
    axes.set_title(text)
    axes.legend()
    save_png(figure, path)
