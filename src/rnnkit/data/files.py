"""The user's own data: labelled text in CSV/TSV, a UTF-8 corpus, sequences in .npz (read
without pickle) or in a long-format CSV. Every problem is a ValueError naming the file,
the row or column, and what was expected; a NaN or infinity in a sequence is one (it
would make every loss it reaches NaN, and the trainer skip those steps)."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import numpy as np

from rnnkit.data.finite import describe, first_non_finite, in_all


def read_rows(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    """A CSV (.csv) or TSV (.tsv, .tab) file's header and rows."""
    if not path.is_file():
        raise ValueError(f"data file {path} does not exist")
    delimiter = "\t" if path.suffix.lower() in (".tsv", ".tab") else ","
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.DictReader(f, delimiter=delimiter)
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    except csv.Error as error:
        raise ValueError(f"{path} is not valid CSV: {error}") from None
    if not header or not rows:
        raise ValueError(f"{path} has no rows under a header line")
    return header, rows


def need_columns(path: Path, header: list[str], *columns: str) -> None:
    missing = [c for c in columns if c not in header]
    if missing:
        raise ValueError(
            f"{path} has no column {', '.join(map(repr, missing))}; its columns are {header}"
        )


BAD_ROWS = ("error", "skip")


def read_labelled_text(
    path: str | Path, text_column: str = "text", label_column: str = "label",
    bad_rows: str = "error",
) -> tuple[list[str], list[str], list[tuple[int, str]]]:  # fmt: skip
    """-> (texts, labels, skipped rows), one text and label per good row. A bad row (an
    empty text or label) is an error, or with ``bad_rows="skip"`` is left out and listed
    in the skipped rows as (line, what is wrong with it)."""
    if bad_rows not in BAD_ROWS:
        raise ValueError(f"bad_rows must be one of {BAD_ROWS}, got {bad_rows!r}")
    path = Path(path)
    header, rows = read_rows(path)
    need_columns(path, header, text_column, label_column)
    texts, labels, skipped = [], [], []
    for line, row in enumerate(rows, start=2):  # line 1 is the header
        text, label = (row.get(text_column) or "").strip(), (row.get(label_column) or "").strip()
        wrong = (f"the label ({label_column!r}) is empty" if not label
                 else f"the text ({text_column!r}) is empty" if not text else None)  # fmt: skip
        if wrong and bad_rows == "error":
            raise ValueError(f"{path}, line {line}: {wrong} (--bad-rows skip leaves such rows "
                             "out)")  # fmt: skip
        if wrong:
            skipped.append((line, wrong))
            continue
        texts.append(text)
        labels.append(label)
    if not texts:
        raise ValueError(f"{path}: every one of its {len(rows)} rows is bad")
    return texts, labels, skipped


def read_texts(path: str | Path, text_column: str = "text") -> tuple[list[str], list[str]]:
    """Texts to predict: a CSV/TSV file's ``text_column``, or every non-empty line of any
    other (UTF-8) file. -> (texts, the line each one is on)."""
    path = Path(path)
    if path.suffix.lower() in (".csv", ".tsv", ".tab"):
        header, rows = read_rows(path)
        need_columns(path, header, text_column)
        lines = [(line, (row.get(text_column) or "").strip()) for line, row in enumerate(rows, 2)]
    elif path.is_file() and not path.read_bytes().strip():
        raise ValueError(f"{path} holds no text to predict")
    else:
        lines = list(enumerate(read_corpus(path).splitlines(), start=1))
    texts = [(str(line), text.strip()) for line, text in lines if text.strip()]
    if not texts:
        raise ValueError(f"{path} holds no text to predict")
    return [text for _, text in texts], [line for line, _ in texts]


def _need_two_classes(path: Path, labels: list[str]) -> None:
    classes = sorted(set(labels))
    if len(classes) < 2:
        raise ValueError(
            f"{path} has a single class ({classes[0]!r}): a classifier needs two or more"
        )


def read_corpus(path: str | Path) -> str:
    """A UTF-8 text file, whole."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"data file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{path} is not UTF-8 text ({error.reason} at byte {error.start})"
        ) from None
    if not text.strip():
        raise ValueError(f"{path} is empty: a language model needs text to learn from")
    return text


def read_sequences_npz(
    path: str | Path, labelled: bool = True
) -> tuple[list[np.ndarray], list[str]]:
    """``X`` (N, T, C) padded floats, ``lengths`` (N,) ints in [1, T], ``y`` (N,) integer
    or string labels; loaded with ``allow_pickle=False``. -> ((T_i, C) arrays, labels).
    Not ``labelled`` (to predict): ``y`` is not read, ``lengths`` may be left out (all T
    long), and each sequence's index takes the place of its label."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"data file {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except ValueError as error:  # object arrays need pickle, which is refused
        raise ValueError(
            f"{path}: {error} (store labels as integers or fixed-width strings)"
        ) from None
    except Exception as error:  # noqa: BLE001 - a damaged or foreign file: say so in one line
        raise ValueError(f"{path} is not a readable .npz file: {error}") from None
    missing = [k for k in ("X", "lengths", "y") if k not in arrays and (labelled or k == "X")]
    if missing:
        raise ValueError(f"{path} has no array {', '.join(missing)}; it holds {sorted(arrays)}")
    X = arrays["X"]
    if X.ndim != 3 or not np.issubdtype(X.dtype, np.number):
        raise ValueError(f"{path}: X must be a numeric (N, T, C) array, got {X.dtype} {X.shape}")
    n, steps = X.shape[:2]
    lengths = arrays.get("lengths", np.full(n, steps))
    y = arrays["y"] if labelled else np.arange(n)
    if lengths.shape != (n,) or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(
            f"{path}: lengths must be (N,) = ({n},) integers, got {lengths.dtype} {lengths.shape}"
        )
    if y.shape != (n,):
        raise ValueError(f"{path}: y must have shape (N,) = ({n},), got {y.shape}")
    bad = np.flatnonzero((lengths < 1) | (lengths > steps))
    if bad.size:
        k = int(bad[0])
        raise ValueError(
            f"{path}: sequence {k} has length {int(lengths[k])}; lengths must be in [1, T={steps}]"
        )
    labels = [str(v).strip() for v in y.tolist()]
    if labelled:
        _need_two_classes(path, labels)
    with np.errstate(over="ignore"):  # a float64 beyond float32's range: inf, reported below
        values = X.astype(np.float32)
    inside = np.arange(steps) < lengths[:, None]  # (N, T): the padding after a length is unread
    found = first_non_finite(values, inside[:, :, None])
    if found:
        (k, t, c), count = found
        raise ValueError(
            f"{path}: X[{k}] has {describe(X[k, t, c])} at step {t}, channel {c} "
            f"(sequences must be finite{in_all(count)})"
        )
    sequences = [values[k, : lengths[k]] for k in range(n)]
    return sequences, labels


def read_sequences_long_csv(
    path: str | Path,
    id_column: str,
    time_column: str,
    label_column: str,
    feature_columns: list[str] | None = None,
    labelled: bool = True,
) -> tuple[list[np.ndarray], list[str]]:
    """One row per (sequence, time step): features in columns (all the others by default),
    the label constant within a sequence. -> ((T_i, C) arrays in time order, labels).
    Not ``labelled`` (to predict): a label column is not needed (nor read as a feature),
    and each sequence's id takes the place of its label."""
    path = Path(path)
    header, rows = read_rows(path)
    needed = (id_column, time_column, *([label_column] if labelled else []))
    need_columns(path, header, *needed, *(feature_columns or []))
    features = feature_columns or [
        c for c in header if c not in (id_column, time_column, label_column)
    ]
    if not features:
        raise ValueError(f"{path} has no feature columns besides the id, time and label")
    keys, times, values = [], [], []  # one per row
    labels: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        key, label = row[id_column], (row.get(label_column) or "").strip()
        if labelled and not label:
            raise ValueError(f"{path}, line {line}: the label ({label_column!r}) is empty")
        if labelled and labels.setdefault(key, label) != label:
            raise ValueError(
                f"{path}, line {line}: sequence {key!r} changes label "
                f"({labels[key]!r} -> {label!r})"
            )
        try:
            time, row_values = float(row[time_column]), [float(row[c]) for c in features]
        except (TypeError, ValueError):
            raise ValueError(f"{path}, line {line}: time and features must be numbers") from None
        keys.append(key)
        times.append(time)
        values.append(row_values)
    _check_long_finite(path, keys, np.array(times), np.array(values), time_column, features)
    steps: dict[str, list[tuple[float, list[float]]]] = defaultdict(list)
    for key, time, row_values in zip(keys, times, values, strict=True):
        steps[key].append((time, row_values))
    order = list(steps)
    sequences = [np.array([v for _, v in sorted(steps[k])], dtype=np.float32) for k in order]
    if not labelled:
        return sequences, order
    label_list = [labels[k] for k in order]
    _need_two_classes(path, label_list)
    return sequences, label_list


def _check_long_finite(
    path: Path,
    keys: list[str],
    times: np.ndarray,
    values: np.ndarray,
    time_column: str,
    features: list[str],
) -> None:
    """A long-format CSV's times (R,) and features (R, C), one row per line, must be
    finite (the features also as float32, which is what the model reads)."""
    found = first_non_finite(times)
    if found:
        (r,), _ = found
        raise ValueError(
            f"{path}, line {r + 2}: sequence {keys[r]!r} has time {describe(times[r])} "
            f"(the time column {time_column!r} must hold finite numbers)"
        )
    with np.errstate(over="ignore"):  # beyond float32's range: inf, reported below
        found = first_non_finite(values.astype(np.float32))
    if found:
        (r, c), count = found
        key, time = keys[r], times[r]
        step = int(np.count_nonzero((np.array(keys) == key) & (times < time)))
        raise ValueError(
            f"{path}, line {r + 2}: sequence {key!r} has {describe(values[r, c])} at step "
            f"{step} ({time_column} = {time:g}), column {features[c]!r} "
            f"(sequences must be finite{in_all(count)})"
        )
