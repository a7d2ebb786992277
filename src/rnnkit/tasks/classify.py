"""The many-to-one tasks: ``sentiment`` (texts) and ``seqclass`` (real-valued sequences),
trained, evaluated and run on new input."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.nn.functional import cross_entropy

from rnnkit.data import Tokenizer, bucket_batches, load_data, pad
from rnnkit.data.pretrained import known_words, pretrained_embeddings
from rnnkit.models import SequenceClassifier
from rnnkit.tasks.metrics import classification_report, confusion, format_confusion
from rnnkit.tasks.run import check_run, load_run, load_weights, prepare_run, save_run
from rnnkit.train import BestEpoch, TrainConfig, Trainer


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
    vocab_size: int = 20000  # sentiment: most frequent words kept
    min_freq: int = 1
    batch_size: int = 32
    lr: float = 2e-3
    epochs: int = 10
    time_budget: float | None = None
    patience: int | None = 3
    seed: int = 0
    columns: dict = field(default_factory=dict)  # --text-column and the like
    pretrained: str | None = None  # sentiment: initial word embeddings ("minilm", 384-wide)
    freeze_embeddings: bool = False  # keep the pretrained embeddings fixed while training


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


def _predict(model: SequenceClassifier, inputs: list, batch_size: int = 256) -> torch.Tensor:
    model.eval()
    order = sorted(range(len(inputs)), key=lambda k: len(inputs[k]))
    predicted = torch.empty(len(inputs), dtype=torch.int64)
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            batch = order[start : start + batch_size]
            x, lengths = pad([inputs[k] for k in batch])
            predicted[batch] = model(x, lengths).argmax(-1)
    return predicted


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
        raise ValueError("--freeze-embeddings keeps pretrained embeddings fixed: add --pretrained")
    check_run(out, config.task, resume, overwrite)
    data = load_data(config.data, config.task, config.seed, **config.columns)
    prepare_run(out, config.task, resume, overwrite)
    torch.manual_seed(config.seed)
    tokenizer, scale = None, None
    if config.task == "sentiment":
        texts = (text for text, _ in data.train)
        tokenizer = Tokenizer.fit(texts, "word", config.vocab_size, config.min_freq)
    else:
        steps = np.concatenate([x for x, _ in data.train])
        scale = {"mean": steps.mean(0).tolist(), "std": (steps.std(0) + 1e-6).tolist()}
    train_x = _inputs(config.task, data.train, tokenizer, scale)
    valid_x = _inputs(config.task, data.valid, tokenizer, scale)
    settings = asdict(config)
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
        return cross_entropy(model(x, lengths), y)

    def error_rate(model) -> float:
        """Validation error after each epoch (lower is better, for early stopping)."""
        return float((_predict(model, valid_x) != valid_y).double().mean())

    best = BestEpoch(error_rate)  # the best epoch's weights are the ones saved

    train_config = TrainConfig(
        epochs=config.epochs, time_budget=config.time_budget, lr=config.lr,
        patience=config.patience, seed=config.seed, quiet=quiet, checkpoint_every=500,
    )  # fmt: skip
    batches = _batches(train_x, [y for _, y in data.train], config.batch_size, config.seed)
    result = Trainer(model, loss, batches, train_config, out, best).fit(resume=resume)
    extra = {"classes": data.classes, "scale": scale, "steps": result.steps}
    extra["best_validation_error"] = best.restore(model)
    if config.pretrained:
        extra["pretrained_coverage"] = found
    save_run(out, config.task, settings, model, tokenizer, extra)
    report = evaluate_classifier(out)
    return (
        f"{result.steps} steps, {result.epochs} epochs ({result.stopped}); saved to {out}\n{report}"
    )


def _load(run_dir: Path, tasks=("sentiment", "seqclass")):
    run = load_run(run_dir, tasks)
    extra, tokenizer = run["extra"], run["tokenizer"]
    channels = None if tokenizer else len(extra["scale"]["mean"])
    model = build_model(
        run["config"], len(extra["classes"]), len(tokenizer) if tokenizer else None, channels
    )
    return run, load_weights(run_dir, model)


def _add_pretrained_words(run: dict, model: SequenceClassifier, texts: list[str]) -> None:
    """With fixed pretrained embeddings, a word never seen in training still has the vector
    it would have had in the vocabulary (the mean of its WordPiece pieces' vectors): the
    words of ``texts`` that WordPiece can split are added to the tokenizer and the
    embedding, in place, instead of becoming ``<unk>``."""
    config, tokenizer = run["config"], run["tokenizer"]
    if not (config.get("pretrained") and config.get("freeze_embeddings")):
        return
    unseen = sorted({w for text in texts for w in tokenizer.split(text)} - set(tokenizer.index))
    words, vectors = known_words(unseen, config["pretrained"])
    if words:
        run["tokenizer"] = Tokenizer(tokenizer.kind, tokenizer.tokens + words, tokenizer.lower)
        weight = torch.cat((model.inputs.weight.detach(), vectors))
        model.inputs = torch.nn.Embedding.from_pretrained(weight, freeze=True, padding_idx=0)


def evaluate_classifier(run_dir: Path, data: str | None = None) -> str:
    """Accuracy, macro F1 and the confusion matrix on the run's test split, or on every
    example of ``data``, as text."""
    scores, matrix, where, classes = score_classifier(run_dir, data)
    return (
        f"{where}: {int(matrix.sum())} examples, accuracy {scores['accuracy']:.2%}, "
        f"macro F1 {scores['macro_f1']:.3f}\n{format_confusion(matrix, classes)}"
    )


def score_classifier(run_dir: Path, data: str | None = None):
    """-> (scores {accuracy, macro_f1}, confusion matrix, what was scored, class names)."""
    run, model = _load(run_dir)
    config, extra = run["config"], run["extra"]
    if data is None:
        examples = load_data(
            config["data"], config["task"], config["seed"], **config["columns"]
        ).test
        where = f"{config['data']} test split"
    else:
        loaded = load_data(data, config["task"], config["seed"], **config["columns"])
        examples, where = loaded.train + loaded.valid + loaded.test, data
        unknown = sorted(set(loaded.classes) - set(extra["classes"]))
        if unknown:
            raise ValueError(f"{data} has classes the model was not trained on: {unknown}")
        # the file's own class indices -> the model's
        remap = [extra["classes"].index(c) for c in loaded.classes]
        examples = [(x, remap[y]) for x, y in examples]
    if config["task"] == "sentiment":
        _add_pretrained_words(run, model, [text for text, _ in examples])
    inputs = _inputs(config["task"], examples, run["tokenizer"], extra["scale"])
    predicted = _predict(model, inputs)
    matrix = confusion(predicted, torch.tensor([y for _, y in examples]), len(extra["classes"]))
    return classification_report(matrix), matrix, where, extra["classes"]


def predict_text(run_dir: Path, text: str) -> tuple[list[str], list[str], torch.Tensor]:
    """A sentiment model on one text -> (its words, the classes, the class probabilities
    after each word (T, K); the last row is the prediction for the whole text)."""
    run, model = _load(run_dir, ("sentiment",))
    _add_pretrained_words(run, model, [text])
    tokenizer = run["tokenizer"]
    words = tokenizer.split(text)
    if not words:
        raise ValueError("the text is empty: there is nothing to classify")
    ids = torch.tensor(tokenizer.encode(text), dtype=torch.int64)
    return words, run["extra"]["classes"], model.trace(ids)
