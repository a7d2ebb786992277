"""The one-to-many task ``generator``: sentences generated from a class label (a one-hot
vector that sets the language model's initial state), trained on labelled texts (MR).

How much the label tells the model is measured, not assumed: the test sentences'
perplexity with their own label against with another label. A model that ignored its
condition would score both the same.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.nn.functional import cross_entropy, one_hot

from rnnkit.arguments import add_epochs_option, add_run_options, duration, positive, rate
from rnnkit.cells import CELLS
from rnnkit.data import Tokenizer, bucket_batches, load_data, pad
from rnnkit.models.conditional_generator import ConditionalGenerator
from rnnkit.tasks.charlm import language_model_graph
from rnnkit.tasks.export import Graph, batch_and_time, flat_state, state_names
from rnnkit.tasks.interface import Predictor, Task
from rnnkit.tasks.run import (
    begin_training,
    check_run,
    load_run,
    load_weights,
    prepare_run,
    save_run,
)
from rnnkit.train import BestEpoch, TrainConfig, Trainer, world

PAD, UNK, BOS, EOS = 0, 1, 2, 3


@dataclass
class GeneratorConfig:
    data: str = "mr"
    cell: str = "lstm"
    hidden: int = 256
    layers: int = 1
    embedding_dim: int = 128
    dropout: float = 0.3
    min_freq: int = 2  # rarer words become <unk>, which is never generated
    batch_size: int = 32
    lr: float = 2e-3
    epochs: int | None = 15  # None: until the time budget
    time_budget: float | None = None
    patience: int | None = 3
    seed: int = 0
    columns: dict | None = None  # --text-column, --label-column of a CSV
    every_step: bool = True  # the label enters every step's input too, not only the state


def build_model(config: dict, vocab_size: int, classes: int) -> ConditionalGenerator:
    return ConditionalGenerator(
        vocab_size, classes, embedding_dim=config["embedding_dim"], cell=config["cell"],
        hidden=config["hidden"], layers=config["layers"], dropout=config["dropout"],
        every_step=config.get("every_step", False),  # runs from before it: the state only
    )  # fmt: skip


def _sequences(tokenizer: Tokenizer, examples) -> list[tuple[torch.Tensor, int]]:
    """(text, label) -> (BOS + word ids + EOS, label)."""
    return [(torch.tensor([BOS, *tokenizer.encode(text), EOS]), label) for text, label in examples]


def _batch(sequences, indices, classes: int):
    tokens, _ = pad([sequences[k][0] for k in indices], value=PAD)
    labels = torch.tensor([sequences[k][1] for k in indices])
    return tokens, one_hot(labels, classes).float()


def perplexity(model: ConditionalGenerator, sequences, classes: int, shift: int = 0) -> float:
    """exp(mean cross-entropy per predicted word, EOS included) with every label moved
    ``shift`` classes along (0: the true labels); each rank of a data-parallel run scores
    its share of the sequences."""
    model.eval()
    shifted = [(tokens, (label + shift) % classes) for tokens, label in sequences]

    def nats(part: slice) -> tuple[float, float]:  # summed over the sequences ``part``
        mine, total, count = shifted[part], 0.0, 0.0
        with torch.no_grad():
            for start in range(0, len(mine), 256):
                tokens, condition = _batch(mine, range(start, min(start + 256, len(mine))),
                                           classes)  # fmt: skip
                logits = model(tokens[:, :-1], condition)
                total += float(cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten(),
                                             ignore_index=PAD, reduction="sum"))  # fmt: skip
                count += int((tokens[:, 1:] != PAD).sum())
        return total, count

    return math.exp(world.current().mean(len(shifted), nats))


def train_generator(config: GeneratorConfig, out: Path, resume: bool, overwrite: bool,
                    quiet: bool) -> str:  # fmt: skip
    check_run(out, "generator", resume, overwrite)
    train_config = TrainConfig(
        epochs=config.epochs, time_budget=config.time_budget, lr=config.lr,
        patience=config.patience, seed=config.seed, quiet=quiet, checkpoint_every=500,
    )  # fmt: skip
    data = load_data(config.data, "sentiment", config.seed, **(config.columns or {}))
    prepare_run(out, "generator", resume, overwrite)
    torch.manual_seed(config.seed)
    texts = (text for text, _ in data.train)
    tokenizer = Tokenizer.fit(texts, "word", min_freq=config.min_freq).with_boundaries()
    classes = len(data.classes)
    train, valid = _sequences(tokenizer, data.train), _sequences(tokenizer, data.valid)
    settings = asdict(config)
    made = {"tokens": tokenizer.tokens, "classes": data.classes}
    begin_training(out, "generator", settings, made, resume)
    model = build_model(settings, len(tokenizer), classes)

    def batches(epoch: int):
        lengths = [len(tokens) for tokens, _ in train]
        for indices in bucket_batches(lengths, config.batch_size, config.seed, epoch):
            yield _batch(train, indices, classes)

    def loss(model, batch):
        tokens, condition = batch
        logits = model(tokens[:, :-1], condition)
        return cross_entropy(logits.flatten(0, 1), tokens[:, 1:].flatten(), ignore_index=PAD)

    best = BestEpoch(lambda model: perplexity(model, valid, classes))
    def targets(batch) -> float:  # what the loss averages over: the tokens, not padding
        return float((batch[0][:, 1:] != PAD).sum())

    trainer = Trainer(model, loss, batches, train_config, out, best, weight_of=targets)
    result = trainer.fit(resume=resume)
    best.restore(model)
    extra = {"classes": data.classes, "steps": result.steps, "epochs": result.epochs}
    save_run(out, "generator", settings, model, tokenizer, extra)
    test = _sequences(tokenizer, data.test)
    own, other = perplexity(model, test, classes), perplexity(model, test, classes, shift=1)
    return (
        f"{result.steps} steps, {result.epochs} epochs ({result.stopped}); saved to {out}\n"
        f"{config.data} test sentences: perplexity {own:.1f} with their own label, "
        f"{other:.1f} with another"
    )


class GeneratorPredictor(Predictor):
    """A trained generator run::

    model = rnnkit.load("runs/generator")
    model.classes                                   # e.g. ['negative', 'positive']
    model.generate("positive", count=3, seed=0)     # three sentences of that class
    """

    def __init__(self, run_dir: Path) -> None:
        run = load_run(run_dir, ("generator",))
        self.run, self.task, self.config = run_dir, "generator", run["config"]
        self.classes: list[str] = run["extra"]["classes"]
        self.tokenizer: Tokenizer = run["tokenizer"]
        model = build_model(self.config, len(self.tokenizer), len(self.classes))
        self.model: ConditionalGenerator = load_weights(run_dir, model)

    def generate(
        self, condition: str, count: int = 5, length: int = 40, prime: str | None = None,
        temperature: float = 0.8, top_k: int | None = None, top_p: float | None = None,
        seed: int | None = None,
    ) -> list[str]:  # fmt: skip
        """``count`` sentences of the class ``condition``, each starting with ``prime``
        (words, optional) and at most ``length`` words after it."""
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        sampling = {"temperature": temperature, "top_k": top_k, "top_p": top_p}
        return [
            " ".join(self.iter_generate(condition, length, prime, generator=generator, **sampling))
            for _ in range(count)
        ]

    def iter_generate(
        self, condition: str, length: int = 40, prime: str | None = None,
        generator: torch.Generator | None = None, **sampling,
    ) -> Iterator[str]:  # fmt: skip
        """One sentence of the class ``condition``, word by word as each is drawn: the
        words of ``prime`` first, then at most ``length`` more. ``sampling``: temperature,
        top_k, top_p."""
        if condition not in self.classes:
            raise ValueError(f"condition must be one of {self.classes}, got {condition!r}")
        vector = one_hot(torch.tensor(self.classes.index(condition)), len(self.classes)).float()
        start = [BOS, *(self.tokenizer.encode(prime, strict=True) if prime else [])]
        yield from (self.tokenizer.tokens[k] for k in start[1:])
        words = self.model.iter_sample(vector, start, length, EOS, generator=generator,
                                       exclude=(PAD, UNK, BOS), **sampling)  # fmt: skip
        yield from (self.tokenizer.tokens[k] for k in words)

    def graphs(self) -> list[Graph]:
        """For ``rnnkit export``, two parts: ``start``, condition (B, C) one-hot -> (h_l0,
        c_l0, ..., offset); ``model``, (tokens (B, T), offset, *state) -> (logits, *state
        after the last step). Feed ``start``'s outputs to ``model`` with BOS (2), then
        each sampled token with the state it returned."""
        batch, _ = batch_and_time()
        cells = self.model.cells
        condition = one_hot(torch.tensor([0, 1, 0]) % len(self.classes), len(self.classes))
        start = Graph(
            "start", _Start(self.model), {"condition": condition.float()},
            [*state_names(cells, ""), "offset"], {"condition": {0: batch}},
        )  # fmt: skip
        return [start, language_model_graph("model", self.model, len(self.tokenizer))]


class _Start(torch.nn.Module):
    """condition (B, C) -> (the stack's initial state, layer by layer; the offset added to
    every input embedding, zeros when the condition sets the state only)."""

    def __init__(self, model: ConditionalGenerator) -> None:
        super().__init__()
        self.model = model

    def forward(self, condition: torch.Tensor):
        offset = self.model.input_offset(condition)
        if offset is None:
            offset = condition.new_zeros(condition.shape[0], self.model.embedding.embedding_dim)
        return (*flat_state(self.model.initial_state(condition)), offset)


class GeneratorTask(Task):
    name = "generator"
    commands = ("generate",)
    predictor = GeneratorPredictor
    help = "generate sentences from a class label (one-to-many); named data: mr"
    description = (
        "Trains a word-level language model whose initial state comes from the label (which, "
        "unless --state-only, is also added to every word's input); reports test perplexity "
        "with the true label and with another; saves it in --out."
    )

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add = parser.add_argument
        add("--data", default="mr", help="mr or a CSV/TSV of labelled texts (default mr)")
        add("--text-column", default="text")
        add("--label-column", default="label")
        add("--cell", choices=sorted(CELLS), default="lstm")
        add("--hidden", type=positive, default=256)
        add("--layers", type=positive, default=1)
        add("--embedding-dim", type=positive, default=128)
        add("--dropout", type=rate, default=0.3)
        add("--min-freq", type=positive, default=2, help="rarer words become <unk> (default 2)")
        add_epochs_option(parser, 15)
        add("--patience", type=positive, default=3, help="early stopping, in epochs")
        add("--time-budget", type=duration, default=None, help="e.g. 90s, 10m")
        add("--lr", type=float, default=2e-3)
        add("--batch-size", type=positive, default=32)
        add("--state-only", action="store_true",
            help="the label sets only the initial state (default: it is also added to every "
            "word's input, which the model cannot forget)")  # fmt: skip
        add_run_options(parser)

    def train(self, args: argparse.Namespace) -> str:
        config = GeneratorConfig(
            args.data, args.cell, args.hidden, args.layers, args.embedding_dim, args.dropout,
            args.min_freq, args.batch_size, args.lr, args.epochs, args.time_budget,
            args.patience, args.seed,
            {"text_column": args.text_column, "label_column": args.label_column},
            every_step=not args.state_only,
        )  # fmt: skip
        return train_generator(config, args.out, args.resume, args.overwrite, args.quiet)


GENERATOR = GeneratorTask()
