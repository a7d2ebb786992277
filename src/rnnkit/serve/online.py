"""One step of a model for an online session: the session keeps the recurrent state, each
message is one step's input (a word, a character, a vector) and the reply is the
prediction after it, equal to running the whole prefix at once. (A model of subwords
takes a word's pieces as steps of their own, and replies after the last.)

Where the model reads left to right and its pooling can be carried step by step (a
unidirectional classifier pooling ``last``, ``mean`` or ``max``; a character model), the
steps of all sessions waiting at one moment run as one batched step of the cells::

    x_b = embed(input_b)                    (B, E): one row per session
    y_b, s_b = cell_l(x_b, s_b)             each layer l, states stacked over sessions
    pooled_b = pool(pooled_b, y_b)          last: y; mean: a running sum; max: running max

Other models (bidirectional, attention pooling, zoneout) keep the session's prefix and run
it whole at every step: exact, but O(T) per step and one session at a time.

A forecast session (``ForecastOnline``) keeps its own series instead: it starts at the
run's training series, each message appends observations to it (``{"observation": {...}}``
or ``{"observations": [...]}``) and the reply is the forecast after them, equal to
``rnnkit.load(run).update(observations).forecast()``. Each step reads one window.

``online_model(predictor)`` is the session model of a run: sentiment, seqclass, charlm and
forecast have one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnkit.data.timeseries import SeriesRows, TimeSeries, extend, records_rows
from rnnkit.serve.schemas import MAX_STEPS, forecast_json
from rnnkit.tasks.forecast import ForecastPredictor
from rnnkit.tasks.registry import TASKS

TOP = 5  # next characters a charlm reply lists


@dataclass
class SessionState:
    """A session's state in the model: each layer's cell state (batch 1), the pooling's
    running value, how many steps it has taken and (for the exact path) its inputs; a
    forecast session's: its series so far (None: the run's training series)."""

    cells: list[tuple[Tensor, ...]] | None = None
    pooled: Tensor | None = None
    steps: int = 0
    prefix: list[Any] = field(default_factory=list)
    series: TimeSeries | None = None


def online_model(predictor) -> OnlineModel | ForecastOnline | None:
    """The online sessions of ``predictor``'s task (``TASKS[task].stream_field``), or None
    where it has none: a forecast run of one series has them, a collection's does not."""
    kind = TASKS[predictor.task].stream_field
    if kind is None:
        return None
    if kind == "observation":
        return ForecastOnline(predictor) if isinstance(predictor, ForecastPredictor) else None
    return OnlineModel(predictor)


class OnlineModel:
    def __init__(self, predictor) -> None:
        self.predictor, self.task = predictor, predictor.task
        self.field = TASKS[self.task].stream_field  # "word", "char" or "step"
        if self.field is None:
            raise ValueError(f"a {self.task} model has no online sessions")
        model = predictor.model
        self.layers = list(model.stack.layers)
        pooling = getattr(model, "pooling", "last")
        self.batched = (
            not getattr(model, "bidirectional", False)
            and pooling in ("last", "mean", "max")
            and not any(layer.regularisers.zoneout for layer in self.layers)
        )
        self.pooling = pooling

    def encode(self, message: object) -> list[Any]:
        """A message -> its steps' inputs (token ids, or a scaled vector): one step, or for
        a model of subwords, one per piece of the word; ValueError naming the field for
        anything else."""
        if not isinstance(message, dict) or set(message) != {self.field}:
            raise ValueError(f'each message is {{"{self.field}": ...}} (or {{"end": true}})')
        value = message[self.field]
        if self.task == "charlm":
            if not isinstance(value, str) or len(value) != 1:
                raise ValueError(f"char: one character per message, got {value!r:.40}")
            return self.predictor.tokenizer.encode(value, strict=True)
        if self.task == "seqclass":
            (x,) = self.predictor.encode([[value]])  # scaled and checked: (1, C)
            return [x[0]]
        (ids,) = self.predictor.encode([value])  # as predict reads a text
        words = len(value.split()) if self.predictor.tokenizer.kind == "subword" else len(ids)
        if words != 1 or len(ids) == 0:
            raise ValueError(f"word: one word per message, got {words}")
        return ids.tolist()

    def step(self, items: list[tuple[SessionState, Any]]) -> list[dict]:
        """One step of every (session, input): each session's state moves on; -> replies."""
        with torch.no_grad():
            if self.batched:
                return self._batched_step(items)
            return [self._exact_step(state, x) for state, x in items]

    def _batched_step(self, items) -> list[dict]:
        model = self.predictor.model
        states = [state for state, _ in items]
        if self.task == "seqclass":
            x = model.inputs(torch.stack([torch.as_tensor(x) for _, x in items]))
        else:
            table = model.inputs if self.task != "charlm" else model.embedding
            x = table(torch.tensor([token for _, token in items]))
        for state in states:
            if state.cells is None:  # a new session: every layer from its initial state
                state.cells = [tuple(layer.cell.init_state(1, x.device, x.dtype))
                               for layer in self.layers]  # fmt: skip
        for k, layer in enumerate(self.layers):
            parts = zip(*(state.cells[k] for state in states), strict=True)
            x, new = layer.cell(x, layer.cell.State(*(torch.cat(p) for p in parts)))
            for b, state in enumerate(states):
                state.cells[k] = tuple(entry[b : b + 1] for entry in new)
        replies = []
        for b, state in enumerate(states):
            state.steps += 1
            replies.append(self._reply(state, self._pool(state, x[b : b + 1])))
        return replies

    def _pool(self, state: SessionState, y: Tensor) -> Tensor:
        if self.pooling == "last" or state.pooled is None:
            state.pooled = y
        elif self.pooling == "mean":
            state.pooled = state.pooled + (y - state.pooled) / state.steps
        else:
            state.pooled = torch.maximum(state.pooled, y)
        return state.pooled

    def _reply(self, state: SessionState, y: Tensor) -> dict:
        model = self.predictor.model
        if self.task == "charlm":
            probabilities = model._logits(y)[0].softmax(-1)
            best = probabilities.topk(TOP)
            tokens = self.predictor.tokenizer.tokens
            top = [
                [tokens[int(k)], float(p)] for p, k in zip(best.values, best.indices, strict=True)
            ]
            return {"step": state.steps, "next": top}
        row = model.head(y)[0].softmax(-1).tolist()
        return {"step": state.steps, **_prediction(self.predictor.classes, row)}

    def _exact_step(self, state: SessionState, x: Any) -> dict:
        """The whole prefix, run at once (models that cannot carry their state)."""
        state.prefix.append(x)
        state.steps += 1
        model = self.predictor.model
        if self.task == "seqclass":
            inputs = torch.stack([torch.as_tensor(v) for v in state.prefix]).unsqueeze(0)
        else:
            inputs = torch.tensor([state.prefix])
        row = model(inputs).softmax(-1)[0].tolist()
        return {"step": state.steps, **_prediction(self.predictor.classes, row)}


class ForecastOnline:
    """A forecast run's sessions: each keeps its own series (the shared predictor's is
    never changed), an update appends to it, the reply is the forecast after it."""

    def __init__(self, predictor) -> None:
        self.predictor = predictor
        self.time_column = predictor.config["columns"].get("time_column", "date")
        self.targets = list(predictor.trained["targets"])
        self.covariates = list(predictor.trained["covariates"])

    def encode(self, message: object) -> list[tuple[SeriesRows, str]]:
        """``{"observation": {time: ..., target: number or null, ...}}`` (one period) or
        ``{"observations": [...]}`` (several) -> one step: [(their rows, the field)]; ValueError
        naming the field for anything else. (Whether they come after the session's last
        period is for ``step``.)"""
        fields = ("observation", "observations")
        if not isinstance(message, dict) or len(message) != 1 or next(iter(message)) not in fields:
            raise ValueError('each message is {"observation": {...}} or '
                             '{"observations": [...]} (or {"end": true})')  # fmt: skip
        ((where, value),) = message.items()
        records = [value] if where == "observation" else value
        if not isinstance(value, dict if where == "observation" else list) or not all(
            isinstance(record, dict) for record in records
        ):
            period = f'{{"{self.time_column}": ..., "{self.targets[0]}": number, ...}}'
            shape = "one object" if where == "observation" else "a list of objects"
            raise ValueError(f"{where}: {shape} ({period} per period) was expected")
        if not 1 <= len(records) <= MAX_STEPS:
            raise ValueError(f"{where}: 1 to {MAX_STEPS} periods per message, got {len(records)}")
        for k, record in enumerate(records):
            for name in self.targets + self.covariates:
                number = record.get(name)
                if number is not None and (
                    isinstance(number, bool) or not isinstance(number, (int, float))
                    or not math.isfinite(number)
                ):  # fmt: skip
                    at = where if where == "observation" else f"{where}[{k}]"
                    raise ValueError(f"{at}: {name} must be a number or null (a gap), "
                                     f"got {number!r:.40}")  # fmt: skip
        rows = records_rows(records, self.time_column, self.targets, self.covariates, where)
        return [(rows, where)]

    def step(self, items: list[tuple[SessionState, tuple[SeriesRows, str]]]) -> list[dict]:
        """Each session's update, one after the other (one window through the model each):
        -> ``{"step": n, "forecast": ...}``, or ``{"error": ...}`` for rows that do not
        come after the session's last period (its series then stays as it was)."""
        replies = []
        for state, (rows, where) in items:
            try:
                before = self.predictor.series if state.series is None else state.series
                series = extend(before, rows, where)
                result = self.predictor.forecast(series)
            except ValueError as error:
                replies.append({"error": str(error)})
                continue
            state.series, state.steps = series, state.steps + 1
            replies.append({"step": state.steps, "forecast": forecast_json(result)})
        return replies


def _prediction(classes: list[str], row: list[float]) -> dict:
    best = int(np.argmax(row))
    return {"label": classes[best], "probabilities": dict(zip(classes, row, strict=True))}
