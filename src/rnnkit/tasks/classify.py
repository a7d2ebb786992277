"""The many-to-one tasks: ``sentiment`` (texts) and ``seqclass`` (real-valued sequences),
trained, evaluated and run on new input."""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor
from torch.nn.functional import cross_entropy

from rnnkit.arguments import add_model_options, positive, rate
from rnnkit.data import Tokenizer, bucket_batches, load_data, pad
from rnnkit.data.files import BAD_ROWS, read_sequences_long_csv, read_sequences_npz, read_texts
from rnnkit.data.pretrained import PRETRAINED, known_words, pretrained_embeddings
from rnnkit.data.subwords import SIZE
from rnnkit.models import POOLINGS, SequenceClassifier
from rnnkit.tasks.export import Graph, batch_and_time
from rnnkit.tasks.interface import Predictor, Task
from rnnkit.tasks.metrics import classification_report, confusion, format_confusion
from rnnkit.tasks.run import (
    begin_training,
    check_run,
    load_run,
    load_weights,
    prepare_run,
    save_run,
)
from rnnkit.train import BestEpoch, TrainConfig, Trainer, world
from rnnkit.train.files import write_atomic


@dataclass
class ClassifierConfig:
    task: str  # "sentiment" or "seqclass"
    data: str
    cell: str = "lstm"
    hidden: int = 128
    layers: int = 1
    bidirectional: bool = False
    pooling: str = "last"
    embedding_dim: int = 128
    dropout: float = 0.3
    vocab_size: int | None = 20000  # sentiment: most frequent tokens kept (None: subwords.SIZE)
    min_freq: int = 1
    batch_size: int = 32
    lr: float = 2e-3
    epochs: int | None = 10  # None: until the time budget
    time_budget: float | None = None
    patience: int | None = 3
    seed: int = 0
    columns: dict = field(default_factory=dict)  # --text-column and the like
    pretrained: str | None = None  # sentiment: initial word embeddings ("minilm", 384-wide)
    freeze_embeddings: bool = False  # keep the pretrained embeddings fixed while training
    bad_rows: str = "error"  # a file's rows with an empty text or label: "error" or "skip"
    min_class_count: int = 1  # a file's rarer classes are dropped
    label_smoothing: float = 0.0  # of the training labels (Szegedy et al. 2016)
    tokens: str = "word"  # sentiment: "word" or "subword" (rnnkit.data.subwords)


def _load(config: dict, data: str | None = None):
    """The run's data set (or ``data`` read as the run's was): the same split, the same bad
    rows skipped, the same rare classes dropped."""
    return load_data(config["data"] if data is None else data, config["task"], config["seed"],
                     bad_rows=config.get("bad_rows", "error"),
                     min_class_count=config.get("min_class_count", 1),
                     **config["columns"])  # fmt: skip


def _what_was_left_out(data, out: Path) -> str:
    """Lines for the training report on the rows skipped (also listed in
    ``out/skipped_rows.csv``) and the classes dropped; empty when none were."""
    lines = []
    skipped = getattr(data, "skipped_rows", [])
    if skipped:
        table = io.StringIO()
        csv.writer(table).writerows([("line", "problem"), *skipped])
        write_atomic(out / "skipped_rows.csv", lambda f: f.write(table.getvalue().encode()))
        shown = ", ".join(str(n) for n, _ in skipped[:10]) + (", ..." if len(skipped) > 10 else "")
        lines.append(f"skipped {len(skipped)} bad rows (lines {shown}); all of them in "
                     f"{out / 'skipped_rows.csv'}")  # fmt: skip
    if data.dropped_classes:
        lines.append("dropped rare classes: " + ", ".join(
            f"{c!r} ({n} rows)" for c, n in data.dropped_classes.items()))
    return "".join(line + "\n" for line in lines)


def _inputs(task: str, examples, tokenizer: Tokenizer | None, scale: dict | None) -> list:
    if task == "sentiment":
        return [torch.tensor(tokenizer.encode(text), dtype=torch.int64) for text, _ in examples]
    mean, std = np.array(scale["mean"], np.float32), np.array(scale["std"], np.float32)
    return [torch.from_numpy((x - mean) / std) for x, _ in examples]


def _batches(inputs: list, labels: list[int], batch_size: int, seed: int):
    lengths = [len(x) for x in inputs]

    def batches(epoch: int):
        for batch in bucket_batches(lengths, batch_size, seed, epoch):
            x, length = pad([inputs[k] for k in batch])
            yield x, length, torch.tensor([labels[k] for k in batch])

    return batches


def _probabilities(model: SequenceClassifier, inputs: list, batch_size: int = 256) -> Tensor:
    """Class probabilities (N, K) of every input, in batches of similar lengths."""
    model.eval()
    order = sorted(range(len(inputs)), key=lambda k: len(inputs[k]))
    probabilities = torch.empty(len(inputs), model.head.out_features)
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            x, lengths = pad([inputs[k] for k in batch])
            probabilities[batch] = model(x, lengths).softmax(-1)
    return probabilities


def _predict(model: SequenceClassifier, inputs: list) -> Tensor:
    return _probabilities(model, inputs).argmax(-1)


def build_model(config: dict, classes: int, vocab_size: int | None, channels: int | None):
    return SequenceClassifier(
        classes, vocab_size=vocab_size, input_size=channels, embedding_dim=config["embedding_dim"],
        cell=config["cell"], hidden=config["hidden"], layers=config["layers"],
        bidirectional=config["bidirectional"], pooling=config["pooling"], dropout=config["dropout"],
    )  # fmt: skip


def train_classifier(
    config: ClassifierConfig, out: Path, resume: bool, overwrite: bool, quiet: bool
) -> str:
    if config.freeze_embeddings and not config.pretrained:
        raise ValueError("--freeze-embeddings keeps pretrained embeddings fixed: it needs "
                         "--pretrained minilm")  # fmt: skip
    if config.tokens == "subword" and config.pretrained:
        raise ValueError("--tokens subword learns the pieces' embeddings from random ones: "
                         "use it with --pretrained none")  # fmt: skip
    check_run(out, config.task, resume, overwrite)
    train_config = TrainConfig(
        epochs=config.epochs, time_budget=config.time_budget, lr=config.lr,
        patience=config.patience, seed=config.seed, quiet=quiet, checkpoint_every=500,
    )  # fmt: skip
    data = _load(asdict(config))
    prepare_run(out, config.task, resume, overwrite)
    left_out = _what_was_left_out(data, out)
    torch.manual_seed(config.seed)
    tokenizer, scale = None, None
    if config.task == "sentiment":
        texts = (text for text, _ in data.train)
        tokenizer = Tokenizer.fit(texts, config.tokens, config.vocab_size, config.min_freq)
    else:
        steps = np.concatenate([x for x, _ in data.train])
        scale = {"mean": steps.mean(0).tolist(), "std": (steps.std(0) + 1e-6).tolist()}
    train_x = _inputs(config.task, data.train, tokenizer, scale)
    valid_x = _inputs(config.task, data.valid, tokenizer, scale)
    settings = asdict(config)
    made = {"tokens": tokenizer.tokens if tokenizer else [], "classes": data.classes}
    begin_training(out, config.task, settings, made, resume)
    if config.pretrained:
        if config.task != "sentiment":
            raise ValueError("--pretrained initialises word embeddings: it is for sentiment")
        table, found = pretrained_embeddings(tokenizer.tokens, config.pretrained, config.seed)
        settings["embedding_dim"] = table.shape[1]
    model = build_model(
        settings, len(data.classes), len(tokenizer) if tokenizer else None,
        None if tokenizer else len(scale["mean"]),
    )  # fmt: skip
    if config.pretrained:
        with torch.no_grad():
            model.inputs.weight.copy_(table)
        # Fixed, a word keeps the meaning it had in the pretrained model even when the
        # training sentences use it rarely (Kim 2014's "static" variant).
        model.inputs.weight.requires_grad_(not config.freeze_embeddings)
    valid_y = torch.tensor([y for _, y in data.valid])

    def loss(model, batch):
        x, lengths, y = batch
        return cross_entropy(model(x, lengths), y, label_smoothing=config.label_smoothing)

    def error_rate(model) -> float:
        """Validation error after each epoch (lower is better, for early stopping); each
        rank of a data-parallel run scores its share."""

        def wrong(part: slice) -> tuple[float, float]:
            mistakes = _predict(model, valid_x[part]) != valid_y[part]
            return float(mistakes.sum()), len(mistakes)

        return world.current().mean(len(valid_y), wrong)

    best = BestEpoch(error_rate)  # the best epoch's weights are the ones saved

    batches = _batches(train_x, [y for _, y in data.train], config.batch_size, config.seed)
    result = Trainer(model, loss, batches, train_config, out, best).fit(resume=resume)
    extra = {"classes": data.classes, "scale": scale, "steps": result.steps}
    extra["best_validation_error"] = best.restore(model)
    if config.pretrained:
        extra["pretrained_coverage"] = found
    save_run(out, config.task, settings, model, tokenizer, extra)
    report = evaluate_classifier(out)
    return (f"{left_out}{result.steps} steps, {result.epochs} epochs ({result.stopped}); saved "
            f"to {out}\n{report}")  # fmt: skip


@dataclass(frozen=True)
class Prediction:
    """One input's predicted class and the probability of every class."""

    label: str
    probabilities: dict[str, float]


@dataclass(frozen=True)
class Trace:
    """The prediction after every step of one input, as if it ended there: ``steps`` names
    them (the words of a text, or "1", "2", ... of a sequence); ``probabilities`` (T, K)
    follows ``classes``; its last row is the prediction for the whole input."""

    steps: list[str]
    classes: list[str]
    probabilities: Tensor


class ClassifierPredictor(Predictor):
    """A trained sentiment or seqclass run::

        model = rnnkit.load("runs/sentiment")
        model.predict("He ate the pie happily")        # Prediction(label=..., probabilities=...)
        model.predict(["great fun", "a bore"])         # a list of them
        model.trace("He ate the pie happily")          # the prediction after every word

    Sentiment takes texts; seqclass takes (T, C) arrays of raw (unscaled) features, or a
    list of them of any lengths.
    """

    def __init__(self, run_dir: Path) -> None:
        run = load_run(run_dir, ("sentiment", "seqclass"))
        self.run, self.task, self.config = run_dir, run["task"], run["config"]
        self.classes: list[str] = run["extra"]["classes"]
        self.tokenizer: Tokenizer | None = run["tokenizer"]
        self.scale = run["extra"]["scale"]
        channels = None if self.tokenizer else len(self.scale["mean"])
        vocabulary = len(self.tokenizer) if self.tokenizer else None
        model = build_model(self.config, len(self.classes), vocabulary, channels)
        self.model: SequenceClassifier = load_weights(run_dir, model)

    def predict(self, inputs):
        """One input -> its ``Prediction``; a list of inputs -> a list of them."""
        single = self._is_single(inputs)
        many = [inputs] if single else list(inputs)
        rows = self.probabilities(many)
        predictions = [
            Prediction(
                self.classes[int(row.argmax())],
                {c: float(p) for c, p in zip(self.classes, row, strict=True)},
            )
            for row in rows
        ]
        return predictions[0] if single else predictions

    def probabilities(self, inputs: list) -> Tensor:
        """Class probabilities (N, K), in the order of ``classes``."""
        if not inputs:
            raise ValueError("inputs is empty: there is nothing to predict")
        return _probabilities(self.model, self.encode(inputs))

    def predict_file(self, path: str | Path) -> tuple[list[str], list, list[Prediction]]:
        """Every input of a file -> (each one's name, the inputs, their predictions).
        Sentiment: a CSV/TSV file's text column (the run's ``--text-column``) or the lines
        of a text file, named by line number. Seqclass: an .npz's ``X`` (``lengths``
        optional), named by index, or a long-format CSV (the run's id and time columns),
        named by id."""
        path = Path(path)
        columns = self.config["columns"]
        if self.tokenizer is not None:
            inputs, names = read_texts(path, columns.get("text_column", "text"))
        elif path.suffix.lower() == ".npz":
            inputs, names = read_sequences_npz(path, labelled=False)
        else:
            inputs, names = read_sequences_long_csv(
                path, columns["id_column"], columns["time_column"], columns["label_column"],
                labelled=False,
            )  # fmt: skip
        return names, inputs, self.predict(list(inputs))

    def trace(self, x) -> Trace:
        """The prediction after every word of a text, or every step of a sequence."""
        (encoded,) = self.encode([x])
        if self.tokenizer is not None:
            steps = self.tokenizer.split(x)
        else:
            steps = [str(t + 1) for t in range(len(encoded))]
        return Trace(steps, self.classes, self.model.trace(encoded))

    def encode(self, inputs: list) -> list[Tensor]:
        """Texts -> token ids; sequences -> scaled float tensors; each checked."""
        if self.tokenizer is None:
            return _inputs(self.task, [(_sequence(x, len(self.scale["mean"])), 0)
                                       for x in inputs], None, self.scale)  # fmt: skip
        texts = [_text(x) for x in inputs]
        self._add_pretrained_words(texts)
        return _inputs(self.task, [(text, 0) for text in texts], self.tokenizer, None)

    def graphs(self) -> list[Graph]:
        """For ``rnnkit export``: (tokens (B, T) int64 | features (B, T, C) raw, lengths
        (B,)) -> probabilities (B, K). Features are scaled inside, as ``predict`` does."""
        batch, steps = batch_and_time()
        lengths = torch.tensor([16, 5, 9])
        if self.tokenizer is not None:
            name, x = "tokens", torch.randint(2, len(self.tokenizer), (3, 16))
        else:
            name, x = "features", torch.randn(3, 16, len(self.scale["mean"]))
        module = _ClassProbabilities(self.model, None if self.tokenizer else self.scale)
        dynamic = {name: {0: batch, 1: steps}, "lengths": {0: batch}}
        return [Graph(None, module, {name: x, "lengths": lengths}, ["probabilities"], dynamic)]

    def _is_single(self, inputs) -> bool:
        """A text; or a sequence: a (T, C) array, or a list of T steps of C numbers."""
        if self.tokenizer is not None:
            return isinstance(inputs, str)
        if isinstance(inputs, (list, tuple)):
            return len(inputs) > 0 and np.ndim(inputs[0]) == 1
        return np.ndim(inputs) == 2

    def _add_pretrained_words(self, texts: list[str]) -> None:
        """With fixed pretrained embeddings, a word never seen in training still has the
        vector it would have had in the vocabulary (the mean of its WordPiece pieces'
        vectors): the words of ``texts`` that WordPiece can split are added to the
        tokenizer and the embedding, in place, instead of becoming ``<unk>``."""
        tokenizer = self.tokenizer
        if not (self.config.get("pretrained") and self.config.get("freeze_embeddings")):
            return
        unseen = sorted({w for text in texts for w in tokenizer.split(text)} - set(tokenizer.index))
        words, vectors = known_words(unseen, self.config["pretrained"])
        if words:
            self.tokenizer = Tokenizer(tokenizer.kind, tokenizer.tokens + words, tokenizer.lower)
            weight = torch.cat((self.model.inputs.weight.detach(), vectors))
            self.model.inputs = torch.nn.Embedding.from_pretrained(
                weight, freeze=True, padding_idx=0
            )


class _ClassProbabilities(torch.nn.Module):
    """(inputs, lengths) -> class probabilities; raw features scaled first."""

    def __init__(self, model: SequenceClassifier, scale: dict | None) -> None:
        super().__init__()
        self.model = model
        mean, std = ([0.0], [1.0]) if scale is None else (scale["mean"], scale["std"])
        self.register_buffer("mean", torch.tensor(mean))
        self.register_buffer("std", torch.tensor(std))
        self.scaled = scale is not None

    def forward(self, x: Tensor, lengths: Tensor) -> Tensor:
        if self.scaled:
            x = (x - self.mean) / self.std
        return self.model(x, lengths).softmax(-1)


def _text(x: object) -> str:
    if not isinstance(x, str):
        raise ValueError(f"a sentiment model reads texts (str), got {type(x).__name__}")
    if not x.split():
        raise ValueError("the text is empty: there is nothing to classify")
    return x


def _sequence(x: object, channels: int) -> np.ndarray:
    try:
        array = np.asarray(x.detach().cpu() if isinstance(x, Tensor) else x, dtype=np.float32)
    except (TypeError, ValueError):
        raise ValueError(
            f"a seqclass model reads sequences, (T, C={channels}) numbers each; got "
            f"{type(x).__name__}"
        ) from None
    if array.ndim != 2 or array.shape[1] != channels or len(array) == 0:
        raise ValueError(
            f"a sequence must be a (T, C={channels}) array with T >= 1, got shape {array.shape}"
        )
    bad = np.argwhere(~np.isfinite(array))
    if len(bad):
        step, channel = map(int, bad[0])
        raise ValueError(f"the sequence has {array[step, channel]} at step {step}, channel "
                         f"{channel} (sequences must be finite)")  # fmt: skip
    return array


def evaluate_classifier(run_dir: Path, data: str | None = None) -> str:
    """Accuracy, macro F1 and the confusion matrix on the run's test split, or on every
    example of ``data``, as text; then the simple baselines' accuracy on the same examples."""
    scores, matrix, where, classes = score_classifier(run_dir, data)
    accuracies = baseline_accuracies(run_dir, data)
    baselines = ("baselines fitted on the training split, same examples: "
                 + ", ".join(f"{name} {accuracy:.2%}" for name, accuracy in accuracies.items())
                 if accuracies else "baselines: not run (scikit-learn is not installed: "
                 "pip install 'rnnkit[baselines]')")  # fmt: skip
    return (
        f"{where}: {int(matrix.sum())} examples, accuracy {scores['accuracy']:.2%}, "
        f"macro F1 {scores['macro_f1']:.3f}\n{format_confusion(matrix, classes)}\n{baselines}"
    )


def _examples(config: dict, classes: list[str], data: str | None) -> tuple[list, str]:
    """-> ((input, the model's class index) to score, what they are): the run's test split,
    or every example of ``data``."""
    if data is None:
        return _load(config).test, f"{config['data']} test split"
    loaded = _load(config, data)
    unknown = sorted(set(loaded.classes) - set(classes))
    if unknown:
        raise ValueError(f"{data} has classes the model was not trained on: {unknown}")
    remap = [classes.index(c) for c in loaded.classes]  # the file's class indices -> the model's
    return [(x, remap[y]) for x, y in loaded.train + loaded.valid + loaded.test], data


def score_classifier(run_dir: Path, data: str | None = None):
    """-> (scores {accuracy, macro_f1}, confusion matrix, what was scored, class names)."""
    predictor = ClassifierPredictor(run_dir)
    classes = predictor.classes
    examples, where = _examples(predictor.config, classes, data)
    predicted = predictor.probabilities([x for x, _ in examples]).argmax(-1)
    matrix = confusion(predicted, torch.tensor([y for _, y in examples]), len(classes))
    return classification_report(matrix), matrix, where, classes


def baseline_accuracies(run_dir: Path, data: str | None = None) -> dict[str, float]:
    """The accuracy of each simple baseline (``classifier_baselines``), fitted on the run's
    training split and tuned on its validation split, on the examples ``score_classifier``
    scores. Empty without scikit-learn (``pip install 'rnnkit[baselines]'``)."""
    if importlib.util.find_spec("sklearn") is None:
        return {}
    from rnnkit.tasks import classifier_baselines as baselines

    config = load_run(run_dir, ("sentiment", "seqclass"))["config"]
    split = _load(config)
    examples = split.test if data is None else _examples(config, split.classes, data)[0]
    sentiment = config["task"] == "sentiment"
    names = baselines.TEXT_BASELINES if sentiment else baselines.SEQUENCE_BASELINES
    inputs, truth = [x for x, _ in examples], np.array([y for _, y in examples])
    found = {}
    for name, label in names.items():
        predict = baselines.fit_baseline(name, split.train, split.valid)
        found[label] = float(np.mean(predict(inputs) == truth))
    return found


class ClassifierTask(Task):
    """``rnnkit train sentiment`` (texts) and ``rnnkit train seqclass`` (sequences)."""

    commands = ("evaluate", "predict")
    predictor = ClassifierPredictor

    def __init__(self, name: str, help: str, description: str, data: str, epochs: int) -> None:
        self.name, self.help, self.description = name, help, description
        self.stream_field = "word" if name == "sentiment" else "step"
        self.data, self.epochs = data, epochs

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        # Sentiment's defaults are what won on MR within 10 minutes (issue 21,
        # benchmarks/results/sentiment.md): a bidirectional LSTM with max pooling over fixed
        # pretrained word vectors, dropout 0.5, stopped early on validation accuracy.
        sentiment = self.name == "sentiment"
        add_model_options(parser, self.data, 128, 1, 0.5 if sentiment else 0.3, self.epochs, 32)
        if sentiment:  # without --epochs: until the 10 minutes or early stopping
            parser.set_defaults(time_budget=600.0)
        add = parser.add_argument
        add("--bidirectional", action=argparse.BooleanOptionalAction, default=sentiment,
            help=f"(default {'on' if sentiment else 'off'})")  # fmt: skip
        pooling = "max" if sentiment else "last"
        add("--pooling", choices=POOLINGS, default=pooling, help=f"(default {pooling})")
        add("--patience", type=positive, default=5 if sentiment else None,
            help="early stopping, in epochs without a better validation accuracy")  # fmt: skip
        add("--label-column", default="label")
        add("--label-smoothing", type=rate, default=0.0,
            help="the share of each label's probability spread over all classes (default 0)")
        add("--min-class-count", type=positive, default=1,
            help="a file's classes with fewer examples are dropped, with a warning naming "
            "them (default 1: none)")  # fmt: skip
        if sentiment:
            add("--bad-rows", choices=BAD_ROWS, default="error",
                help="rows with an empty text or label: stop with an error (default), or "
                "skip them, listed in the run's skipped_rows.csv")  # fmt: skip
            add("--text-column", default="text")
            add("--tokens", choices=("word", "subword"), default="word",
                help="read texts as words (default) or as subword pieces fitted on the "
                "training texts, whose embeddings start random (better than words without "
                "pretrained vectors: benchmarks/results/subwords.md)")  # fmt: skip
            add("--vocab-size", type=positive, default=None,
                help=f"the commonest tokens kept (default 20000 words, {SIZE} subwords)")
            add("--min-freq", type=positive, default=1)
            add("--pretrained", choices=(*PRETRAINED, "none"), default=None,
                help="start the word embeddings from a pretrained model's (minilm: "
                "all-MiniLM-L6-v2's, 384-wide; the default with words), or from random ones "
                "(none; the default with subwords)")  # fmt: skip
            add("--freeze-embeddings", action=argparse.BooleanOptionalAction, default=None,
                help="keep the pretrained embeddings fixed (default: on with --pretrained)")
        else:
            add("--id-column", default="id", help="long-format CSV: the sequence")
            add("--time-column", default="time", help="long-format CSV: the step order")

    def train(self, args: argparse.Namespace) -> str:
        names = ("text_column",) if self.name == "sentiment" else ("id_column", "time_column")
        tokens = getattr(args, "tokens", "word")
        pretrained = getattr(args, "pretrained", "none")
        if pretrained is None:  # pretrained vectors are of words; subwords learn their own
            pretrained = "minilm" if tokens == "word" else "none"
        pretrained = None if pretrained == "none" else pretrained
        freeze = getattr(args, "freeze_embeddings", None)
        vocab_size = getattr(args, "vocab_size", None) or (20000 if tokens == "word" else None)
        config = ClassifierConfig(
            self.name, args.data, args.cell, args.hidden, args.layers, args.bidirectional,
            args.pooling, args.embedding_dim, args.dropout,
            vocab_size, getattr(args, "min_freq", 1), args.batch_size,
            args.lr, args.epochs, args.time_budget, args.patience, args.seed,
            {name: getattr(args, name) for name in (*names, "label_column")},
            pretrained, pretrained is not None if freeze is None else freeze,
            getattr(args, "bad_rows", "error"), args.min_class_count, args.label_smoothing, tokens,
        )  # fmt: skip
        return train_classifier(config, args.out, args.resume, args.overwrite, args.quiet)

    def evaluate(self, run: Path, data: str | None) -> str:
        return evaluate_classifier(run, data)


SENTIMENT = ClassifierTask(
    "sentiment",
    "classify texts (many-to-one); named data: mr",
    "Trains a word-level classifier; saves model, tokenizer and settings in --out.",
    data="mr",
    epochs=10,
)
SEQCLASS = ClassifierTask(
    "seqclass",
    "classify real-valued sequences; named data: japanese-vowels",
    "Trains a classifier of multivariate sequences; saves it in --out.",
    data="japanese-vowels",
    epochs=30,
)
