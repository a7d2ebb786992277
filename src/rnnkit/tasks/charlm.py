"""The many-to-many task ``charlm``: a character-level language model trained with
truncated BPTT over a corpus, scored in bits per character, and sampled from."""

from __future__ import annotations

import argparse
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch.nn.functional import cross_entropy

from rnnkit.arguments import add_model_options, positive
from rnnkit.data import Tokenizer, load_data
from rnnkit.models import LanguageModel
from rnnkit.tasks.charlm_baseline import fit_on_validation
from rnnkit.tasks.export import Graph, batch_and_time, flat_state, nested_state, state_names
from rnnkit.tasks.interface import Predictor, Task
from rnnkit.tasks.metrics import bits_per_token
from rnnkit.tasks.run import (
    begin_training,
    check_run,
    load_run,
    load_weights,
    prepare_run,
    save_run,
)
from rnnkit.train import TrainConfig, Trainer, stream_batches, world
from rnnkit.train.schedule import SCHEDULES


@dataclass
class LanguageModelConfig:
    data: str = "shakespeare"
    cell: str = "lstm"
    hidden: int = 512
    layers: int = 2
    embedding_dim: int = 128
    dropout: float = 0.2
    batch_size: int = 64
    steps: int = 100  # truncated-BPTT length
    lr: float = 2e-3
    epochs: int | None = 1  # None: until the time budget
    time_budget: float | None = None
    validate_chars: int = 100_000  # of the validation text, scored after every epoch
    seed: int = 0
    schedule: str = "constant"  # of the learning rate; "cosine": to 0 by the end (of the
    # epochs or the time budget, whichever comes first)


def build_model(config: dict, vocab_size: int) -> LanguageModel:
    return LanguageModel(
        vocab_size, config["embedding_dim"], config["cell"], config["hidden"], config["layers"],
        config["dropout"],
    )  # fmt: skip


def bits_per_char(
    model: LanguageModel, ids: torch.Tensor, lanes: int = 32, steps: int = 200
) -> float:
    """Mean bits per character of predicting each next id, the text cut into ``lanes``
    contiguous lanes read with the state carried (each lane starts from zero); in a
    data-parallel run each rank reads its share of the lanes."""
    model.eval()
    length = (len(ids) - 1) // lanes
    if length < 1:
        raise ValueError(f"the text is too short to score: {len(ids)} characters")
    inputs = ids[: lanes * length].view(lanes, length)
    targets = ids[1 : lanes * length + 1].view(lanes, length)

    def nats(part: slice) -> tuple[float, float]:  # summed over the lanes ``part``
        total, state = 0.0, None
        with torch.no_grad():
            for start in range(0, length, steps):
                logits, state = model(inputs[part, start : start + steps], state)
                chunk = targets[part, start : start + steps]
                total += float(cross_entropy(logits.flatten(0, 1), chunk.flatten(),
                                             reduction="sum"))  # fmt: skip
        return total, targets[part].numel()

    return bits_per_token(world.current().mean(lanes, nats))


def train_language_model(
    config: LanguageModelConfig, out: Path, resume: bool, overwrite: bool, quiet: bool
) -> str:
    check_run(out, "charlm", resume, overwrite)
    # Checked before anything is written: a bad --lr leaves no trace.
    train_config = TrainConfig(
        epochs=config.epochs, time_budget=config.time_budget, lr=config.lr, seed=config.seed,
        quiet=quiet, checkpoint_every=200, schedule=config.schedule,
    )  # fmt: skip
    corpus = load_data(config.data, "charlm", config.seed)
    prepare_run(out, "charlm", resume, overwrite)
    torch.manual_seed(config.seed)
    tokenizer = Tokenizer.fit([corpus.train], "char")
    ids = torch.tensor(tokenizer.encode(corpus.train), dtype=torch.int64)
    valid = torch.tensor(tokenizer.encode(corpus.valid[: config.validate_chars]), dtype=torch.int64)
    settings = asdict(config)
    begin_training(out, "charlm", settings, {"tokens": tokenizer.tokens}, resume)
    model = build_model(settings, len(tokenizer))
    batches = stream_batches((ids[:-1], ids[1:]), config.batch_size, config.steps)

    def loss(model, batch, state):
        x, y = batch
        logits, state = model(x, state)
        return cross_entropy(logits.flatten(0, 1), y.flatten()), state

    trainer = Trainer(
        model, loss, batches, train_config, out, lambda m: bits_per_char(m, valid), carry_state=True
    )
    result = trainer.fit(resume=resume)
    save_run(out, "charlm", settings, model, tokenizer, {"steps": result.steps})
    return (
        f"{result.steps} steps ({result.stopped}); saved to {out}\n{evaluate_language_model(out)}"
    )


class LanguageModelPredictor(Predictor):
    """A trained charlm run::

    model = rnnkit.load("runs/charlm")
    model.generate("ROMEO:", length=300, temperature=0.8, seed=0)
    model.bits_per_char("To be, or not to be")
    """

    def __init__(self, run_dir: Path) -> None:
        run = load_run(run_dir, ("charlm",))
        self.run, self.task, self.config = run_dir, "charlm", run["config"]
        self.tokenizer: Tokenizer = run["tokenizer"]
        model = build_model(self.config, len(self.tokenizer))
        self.model: LanguageModel = load_weights(run_dir, model)

    def generate(
        self,
        prime: str = "\n",
        length: int = 500,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> str:
        """``prime`` followed by ``length`` sampled characters."""
        return prime + "".join(self.iter_generate(prime, length, temperature, top_k, top_p, seed))

    def iter_generate(
        self,
        prime: str = "\n",
        length: int = 500,
        temperature: float = 1.0,
        top_k: int | None = None,
        top_p: float | None = None,
        seed: int | None = None,
    ) -> Iterator[str]:
        """The characters ``generate`` appends to ``prime``, each as soon as it is drawn."""
        if not prime:
            raise ValueError("prime must hold at least one character")
        ids = self.tokenizer.encode(prime, strict=True)
        generator = torch.Generator().manual_seed(seed) if seed is not None else None
        sampling = {"temperature": temperature, "top_k": top_k, "top_p": top_p}
        for token in self.model.iter_generate(
            ids, length, generator=generator, exclude=(0, 1), **sampling
        ):
            yield self.tokenizer.decode([token])

    def graphs(self) -> list[Graph]:
        """For ``rnnkit export``: (tokens (B, T), h_l0, c_l0, ... (B, H) each) -> (logits
        (B, T, V), the state after the last step). T = 1 is one streaming step."""
        return [language_model_graph(None, self.model, len(self.tokenizer))]

    def bits_per_char(self, text: str) -> float:
        """Mean bits per character of predicting each next character of ``text``."""
        ids = torch.tensor(self.tokenizer.encode(text), dtype=torch.int64)
        return bits_per_char(self.model, ids, lanes=1)  # one lane: the state runs through


def language_model_graph(part: str | None, model: LanguageModel, vocabulary: int) -> Graph:
    """A language model with its state as explicit inputs and outputs (and, given
    ``offset`` (B, E), a vector added to every input embedding: the generator's)."""
    batch, steps = batch_and_time()
    cells = [layer.cell for layer in model.stack.layers]
    inputs = {"tokens": torch.randint(2, vocabulary, (3, 16))}
    if part is not None:
        inputs["offset"] = 0.1 * torch.randn(3, model.embedding.embedding_dim)
    for name, size in zip(state_names(cells, ""), _sizes(cells), strict=True):
        inputs[name] = 0.1 * torch.randn(3, size)
    dynamic = {name: {0: batch} for name in inputs} | {"tokens": {0: batch, 1: steps}}
    outputs = ["logits", *state_names(cells, "next_")]
    return Graph(part, _StateInOut(model, cells, part is not None), inputs, outputs, dynamic)


def _sizes(cells: list) -> list[int]:
    return [size for cell in cells for size in cell.state_sizes()]


class _StateInOut(torch.nn.Module):
    """(tokens[, offset], *state) -> (logits, *state after the last step)."""

    def __init__(self, model: LanguageModel, cells: list, with_offset: bool) -> None:
        super().__init__()
        self.model, self.cells, self.with_offset = model, cells, with_offset

    def forward(self, tokens: torch.Tensor, *rest: torch.Tensor):
        offset, state = (rest[0], rest[1:]) if self.with_offset else (None, rest)
        # LanguageModel's own forward: the generator's takes a condition instead.
        logits, new = LanguageModel.forward(
            self.model, tokens, nested_state(state, self.cells), offset
        )
        return (logits, *flat_state(new))


def evaluate_language_model(run_dir: Path, data: str | None = None) -> str:
    """Cross-entropy and bits per character on the run's test text, or on ``data``."""
    bpc, characters, unknown, where = score_language_model(run_dir, data)
    note = f"; {unknown} characters never seen in training scored as <unk>" if unknown else ""
    nats = bpc * math.log(2)
    baseline, order = baseline_bits_per_char(run_dir, data)
    return (f"{where}: {characters} characters, {nats:.3f} nats = {bpc:.3f} bits per "
            f"character{note}\nbaseline on the same text: a Kneser-Ney {order}-gram of the "
            f"training text (its order chosen on the validation text), {baseline:.3f} bits "
            "per character")  # fmt: skip


def baseline_bits_per_char(run_dir: Path, data: str | None = None) -> tuple[float, int]:
    """-> (bits per character, order) of the character n-gram baseline
    (``charlm_baseline``) on the text ``score_language_model`` scores."""
    config = load_run(run_dir, ("charlm",))["config"]
    corpus = load_data(config["data"], "charlm", config["seed"])
    if data is None:
        text = corpus.test
    else:
        loaded = load_data(data, "charlm", config["seed"])
        text = loaded.train + loaded.valid + loaded.test
    model = fit_on_validation(corpus.train, corpus.valid)
    return model.bits_per_char(text), model.order


def score_language_model(run_dir: Path, data: str | None = None) -> tuple[float, int, int, str]:
    """-> (bits per character, characters scored, of them unknown, what was scored)."""
    predictor = LanguageModelPredictor(run_dir)
    config, tokenizer = predictor.config, predictor.tokenizer
    text = load_data(config["data"], "charlm", config["seed"]).test if data is None else None
    if data is not None:
        loaded = load_data(data, "charlm", config["seed"])
        text = loaded.train + loaded.valid + loaded.test
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.int64)
    unknown = int((ids == 1).sum())
    bpc = bits_per_char(predictor.model, ids)
    return bpc, len(ids), unknown, data or f"{config['data']} test text"


class LanguageModelTask(Task):
    name = "charlm"
    help = "character-level language model (many-to-many); named data: shakespeare"
    description = "Trains with truncated BPTT, reports bits per character; saves it in --out."
    commands = ("evaluate", "generate")
    stream_field = "char"
    predictor = LanguageModelPredictor

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        add_model_options(parser, "shakespeare", 512, 2, 0.2, 1, 64)
        add = parser.add_argument
        add("--steps", type=positive, default=100, help="truncated-BPTT length")
        add("--validate-chars", type=positive, default=100_000)
        add("--schedule", choices=SCHEDULES, default="constant",
            help="of the learning rate; cosine decays it to 0 by the end of the epochs or of "
            "the time budget (default constant)")  # fmt: skip

    def train(self, args: argparse.Namespace) -> str:
        config = LanguageModelConfig(
            args.data, args.cell, args.hidden, args.layers, args.embedding_dim, args.dropout,
            args.batch_size, args.steps, args.lr, args.epochs, args.time_budget,
            args.validate_chars, args.seed, args.schedule,
        )  # fmt: skip
        return train_language_model(config, args.out, args.resume, args.overwrite, args.quiet)

    def evaluate(self, run: Path, data: str | None) -> str:
        return evaluate_language_model(run, data)


CHARLM = LanguageModelTask()
