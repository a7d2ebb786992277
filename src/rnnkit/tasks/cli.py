"""The task commands of the ``rnnkit`` command line (``rnnkit.cli`` wires them in), all
through the registry of tasks (``rnnkit.tasks.registry``):

rnnkit train TASK ... --out DIR              each task's own options (Task.add_arguments)
rnnkit evaluate DIR [--data PATH]
rnnkit predict DIR "He ate the pie happily" --trace [--plot trace.png]
rnnkit generate DIR --prime "ROMEO:" --length 500 --temperature 0.8
rnnkit generate DIR --condition positive     (a generator run)
rnnkit forecast DIR ... (rnnkit.tasks.forecast_commands)
rnnkit translate DIR "recurrent" ... (rnnkit.tasks.seq2seq_commands)
rnnkit transcribe DIR hello.wav [--stream] (rnnkit.tasks.speech_commands)
rnnkit export DIR --format onnx|pt2 --out FILE (rnnkit.tasks.export)
"""

from __future__ import annotations

import argparse
import csv
import io
from pathlib import Path

from rnnkit.arguments import positive, resolve_epochs
from rnnkit.tasks import forecast_commands, seq2seq_commands, speech_commands
from rnnkit.tasks.export import FORMATS, export_graphs
from rnnkit.tasks.launch import add_nproc_option, train_in_processes
from rnnkit.tasks.registry import TASKS, task_of

#: The commands on a trained run (``export`` takes every task's runs).
RUN_COMMANDS = (
    "evaluate", "predict", "generate", "forecast", "translate", "transcribe", "export",
)


def add_train_tasks(tasks) -> None:
    """``rnnkit train TASK`` for every registered task."""
    for task in TASKS.values():
        parser = tasks.add_parser(task.name, help=task.help, description=task.description)
        task.add_arguments(parser)
        add_nproc_option(parser)


def train(args: argparse.Namespace) -> str:
    """The task's training, in this process or in several (``--nproc``, torchrun)."""
    resolve_epochs(args)
    return train_in_processes(args, TASKS[args.task].train)


def run_command(args: argparse.Namespace) -> str:
    """``rnnkit evaluate|predict|generate|forecast|translate RUN ...``."""
    task = task_of(args.run, None if args.command == "export" else args.command)
    if args.command == "evaluate":
        return task.evaluate(args.run, args.data)
    if args.command == "export":
        graphs = task.load(args.run).graphs()
        return "\n".join(export_graphs(graphs, args.out, args.format, args.overwrite))
    handler = {"predict": predict, "generate": generate, "forecast": forecast_commands.forecast,
               "translate": seq2seq_commands.translate,
               "transcribe": speech_commands.transcribe}[args.command]  # fmt: skip
    return handler(args, task.load(args.run))


def add_commands(commands) -> None:
    """``rnnkit evaluate``, ``generate`` and ``predict`` (and ``forecast``, ``translate``)."""
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
    predict = commands.add_parser(
        "predict",
        help="classify a text, or every input of a file, with a sentiment or seqclass model",
        description="Either one TEXT (sentiment) or --input FILE: a CSV/TSV (the run's text "
        "column) or a text file (a text per line) for sentiment, an .npz (X, lengths "
        "optional) or a long-format CSV for seqclass; written as CSV.",
    )
    predict.add_argument("run", type=Path)
    predict.add_argument("text", nargs="?", default=None)
    predict.add_argument("--trace", action="store_true", help="the prediction after every word")
    predict.add_argument("--plot", type=Path, default=None, help="draw the trace into this PNG")
    predict.add_argument("--input", type=Path, default=None, help="predict every input of a file")
    predict.add_argument("--output", type=Path, default=None, help="the CSV (default: stdout)")
    forecast_commands.add_forecast_command(commands)
    seq2seq_commands.add_translate_command(commands)
    speech_commands.add_transcribe_command(commands)
    export = commands.add_parser(
        "export",
        help="write a trained run as ONNX (onnxruntime) or a torch.export program (.pt2)",
        description="Batch and time stay dynamic. seq2seq/g2p write an encoder and a decoder "
        "step (OUT.encoder.onnx, OUT.decoder_step.onnx), generator a start and a model; "
        "each file is checked against the model before it is written.",
    )
    export.add_argument("run", type=Path, help="the run directory of rnnkit train")
    export.add_argument("--format", choices=FORMATS, default="onnx")
    export.add_argument("--out", type=Path, required=True, help="the file to write")
    export.add_argument("--overwrite", action="store_true", help="replace existing files")


def generate(args: argparse.Namespace, predictor) -> str:
    if predictor.task == "generator":
        if args.condition is None:
            raise ValueError(f"--condition is needed: {args.run} generates sentences of a class")
        if args.condition not in predictor.classes:
            raise ValueError(
                f"--condition must be one of {predictor.classes}, got {args.condition!r}"
            )
        return "\n".join(predictor.generate(
            args.condition, args.count, args.length or 40, args.prime, args.temperature,
            args.top_k, args.top_p, args.seed,
        ))  # fmt: skip
    if args.condition is not None:
        raise ValueError(f"--condition is for generator runs; {args.run} is a charlm run")
    if args.prime == "":
        raise ValueError("--prime must hold at least one character")
    prime = "\n" if args.prime is None else args.prime
    return predictor.generate(
        prime, args.length or 500, args.temperature, args.top_k, args.top_p, args.seed
    )


def predict(args: argparse.Namespace, predictor) -> str:
    if (args.text is None) == (args.input is None):
        raise ValueError("predict takes either a TEXT or --input FILE (one of them)")
    if args.input is not None:
        if args.trace or args.plot:
            raise ValueError("--trace and --plot are for one TEXT, not --input")
        return _predict_file(args, predictor)
    if predictor.task != "sentiment":
        raise ValueError(f"{args.run} is a {predictor.task} model: pass its sequences as --input")
    trace = predictor.trace(args.text)
    final = trace.probabilities[-1]
    best = int(final.argmax())
    lines = [f"{trace.classes[best]} ({float(final[best]):.1%}): {args.text}"]
    if args.trace or args.plot:
        width = max(len(w) for w in trace.steps) + 2
        lines.append("after".ljust(width) + "".join(f"P({c})".rjust(14) for c in trace.classes))
        for word, row in zip(trace.steps, trace.probabilities, strict=True):
            lines.append(word.ljust(width) + "".join(f"{float(p):14.3f}" for p in row))
    if args.plot:
        _plot_trace(args.plot, args.text, trace)
        lines.append(f"trace drawn in {args.plot}")
    return "\n".join(lines)


def _predict_file(args: argparse.Namespace, predictor) -> str:
    """Every input of ``--input`` -> CSV: its name, (its text,) the label, P(each class)."""
    from rnnkit.train.files import write_atomic

    names, inputs, predictions = predictor.predict_file(args.input)
    texts = predictor.task == "sentiment"
    table = io.StringIO()
    writer = csv.writer(table, lineterminator="\n")
    name = "line" if texts else "sequence"
    header = [name, *(["text"] if texts else []), "label"]
    writer.writerow(header + [f"p_{c}" for c in predictor.classes])
    for key, x, prediction in zip(names, inputs, predictions, strict=True):
        probabilities = [f"{p:.6f}" for p in prediction.probabilities.values()]
        writer.writerow([key, *([x] if texts else []), prediction.label, *probabilities])
    if args.output is None:
        return table.getvalue().rstrip("\n")
    text = table.getvalue().encode()
    write_atomic(args.output, lambda f: f.write(text))
    return f"{len(names)} predictions written to {args.output}"


def _plot_trace(path: Path, text: str, trace) -> None:
    from rnnkit.tasks.figures import save_png, subplots

    words, probabilities = trace.steps, trace.probabilities
    figure, axes = subplots(figsize=(max(4, 0.9 * len(words) + 2), 3.2))
    for k, name in enumerate(trace.classes):
        axes.plot(range(len(words)), probabilities[:, k].numpy(), marker="o", label=f"P({name})")
    axes.set_xticks(range(len(words)), words)
    axes.set_ylim(0, 1)
    axes.set_ylabel("probability after the word")
    axes.set_title(text)
    axes.legend()
    save_png(figure, path)
