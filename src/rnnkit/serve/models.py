"""One served model: a trained run loaded once (``rnnkit.load``), its own worker thread
(PyTorch calls of one model never overlap: its predictor keeps state) and, for the
classifiers, a micro-batcher in front of it."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import rnnkit
from rnnkit.serve.batching import MicroBatcher
from rnnkit.serve.online import online_model
from rnnkit.serve.sessions import Sessions
from rnnkit.tasks.registry import TASKS

#: The endpoints of the API; a model answers the one its task has among its commands.
ENDPOINTS = ("predict", "generate", "forecast", "translate")


@dataclass(frozen=True)
class Settings:
    """``rnnkit serve``'s options: micro-batching, the API key, limits, online sessions."""

    max_batch: int = 64
    # Requests that came while the model was busy are batched anyway; waiting longer for
    # more paid nothing in benchmarks/serve.py (32 clients: the same req/s at 0, 1 and 5 ms)
    # and cost latency at moderate load (1,000 sessions, 2,000 steps/s: p50 3 ms at 1 ms,
    # 9 ms at 5 ms). 1 ms still gathers a burst that arrives at once.
    max_delay_ms: float = 1.0
    api_key: str | None = None
    max_body_bytes: int = 2_000_000
    request_seconds: float = 60.0
    max_sessions: int = 10_000  # per model
    session_idle_seconds: float = 60.0


class ServedModel:
    def __init__(self, run: Path, settings: Settings, on_batch) -> None:
        self.predictor = rnnkit.load(run)
        self.name, self.task = run.resolve().name, self.predictor.task
        answers = [c for c in TASKS[self.task].commands if c in ENDPOINTS]
        if not answers:
            raise ValueError(f"{run} is a {self.task} run, which rnnkit serve cannot serve")
        self.endpoint = answers[0]
        self.executor = ThreadPoolExecutor(1, thread_name_prefix=f"rnnkit-{self.name}")
        delay = settings.max_delay_ms / 1000
        size = lambda n: on_batch(self.name, n)  # noqa: E731
        self.batcher = None
        if self.endpoint == "predict":
            self.batcher = MicroBatcher(self._predict_batch, settings.max_batch, delay,
                                        self.executor, size)  # fmt: skip
        self.online = online_model(self.predictor)
        self.sessions = Sessions(settings.max_sessions, settings.session_idle_seconds)
        if self.online is not None:  # the steps of all sessions at one moment, as one batch
            self.stepper = MicroBatcher(self.online.step, settings.max_batch, delay,
                                        self.executor, size)  # fmt: skip

    def describe(self) -> dict[str, Any]:
        """Name, task, settings and the run's scores (the numbers of its task.json)."""
        run = json.loads((self.predictor.run / "task.json").read_text())
        scores = {k: v for k, v in run["extra"].items() if isinstance(v, (int, float))}
        return {"name": self.name, "task": self.task, "endpoint": self.endpoint,
                "settings": run["config"], "metrics": scores,
                "classes": getattr(self.predictor, "classes", None)}  # fmt: skip

    def _predict_batch(self, requests: list[list]) -> list[list]:
        """Each request's inputs -> its predictions, all in one call of the model."""
        flat = [x for inputs in requests for x in inputs]
        predictions = self.predictor.predict(flat)
        out, k = [], 0
        for inputs in requests:
            out.append(predictions[k : k + len(inputs)])
            k += len(inputs)
        return out

    def forecast(self, history: list[dict] | str | None, horizon: int | None):
        """``history`` (JSON records or CSV text) written to a temporary CSV, which the
        predictor reads as it reads any file."""
        if history is None:
            return self.predictor.forecast(None, horizon)
        if isinstance(history, list):
            table = io.StringIO()
            columns = list(dict.fromkeys(k for row in history for k in row))
            writer = csv.DictWriter(table, columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in history)
            history = table.getvalue()
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory) / "history.csv"
            path.write_text(history, encoding="utf-8")
            try:
                return self.predictor.forecast(str(path), horizon)
            except ValueError as error:  # name the request's field, not the temporary file
                raise ValueError(str(error).replace(str(path), "history")) from None

    def close(self) -> None:
        self.executor.shutdown(wait=True)
