"""The HTTP API of ``rnnkit serve`` (FastAPI): every loaded run is a model named by its
directory's name.

    GET  /healthz                       liveness (the only endpoint without the API key)
    GET  /v1/models                     name, task, settings and scores of each model
    GET  /metrics                       Prometheus text
    POST /v1/models/{name}/predict      sentiment, seqclass
    POST /v1/models/{name}/generate     charlm, generator ("stream": server-sent events)
    POST /v1/models/{name}/forecast     forecast
    POST /v1/models/{name}/translate    g2p, seq2seq
    WS   /v1/models/{name}/stream       an online session (sentiment, seqclass, charlm,
                                        forecast)
    GET  /docs                          the OpenAPI page
    GET  /                              the web page (static/index.html, static/*)

Bad input is a 4xx whose JSON body says what is wrong in ``error``: 422 for a body that
does not fit the schema (naming the field), 400 for input the model cannot take (a word
never seen, a series of other columns), 404 for an unknown model, 413 for a body over the
limit, 401 without the key, 408 for a request over the time limit.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, WebSocket, WebSocketDisconnect
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, PlainTextResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from rnnkit.serve.metrics import Metrics
from rnnkit.serve.models import ENDPOINTS, ServedModel, Settings
from rnnkit.serve.schemas import (
    ForecastRequest,
    GenerateRequest,
    PredictRequest,
    TranslateRequest,
    forecast_json,
)
from rnnkit.serve.sessions import EVICTED

#: The web page: HTML, CSS and JavaScript, served as they are (no build step).
STATIC = Path(__file__).parent / "static"

#: The endpoints metrics are labelled with (any other path counts as "other").
KNOWN = {"/", "/healthz", "/v1/models", "/metrics", "/docs", *ENDPOINTS, "stream"}


class Refused(Exception):
    """A request the server answers with ``status`` and ``message``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def create_app(runs: list[Path], settings: Settings | None = None) -> FastAPI:
    """The app serving ``runs`` (each loaded now: a bad run fails here, not on a request)."""
    settings = settings or Settings()
    metrics = Metrics()
    models: dict[str, ServedModel] = {}
    for run in runs:
        model = ServedModel(Path(run), settings, metrics.observe_batch)
        if model.name in models:
            raise ValueError(f"two runs are named {model.name!r}: serve runs of distinct names")
        models[model.name] = model

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        for model in models.values():  # after the requests in flight have been answered
            model.close()

    app = FastAPI(title="rnnkit", description=__doc__.split("\n\n")[0], lifespan=lifespan)
    app.state.models, app.state.metrics = models, metrics

    @app.middleware("http")
    async def guard(request: Request, call_next):
        """API key, body size, time limit and metrics, for every request."""
        start, path = time.perf_counter(), request.url.path
        endpoint = path.rsplit("/", 1)[-1] if path.startswith("/v1/models/") else path
        endpoint = endpoint if endpoint in KNOWN else "other"  # labels stay few
        try:
            _check_key(request, settings.api_key)
            _check_size(request, settings.max_body_bytes)
            response = await asyncio.wait_for(call_next(request), settings.request_seconds)
        except Refused as refused:
            response = _error(refused.status, refused.message)
        except TimeoutError:
            limit = settings.request_seconds
            response = _error(408, f"the request took longer than the limit of {limit:g} s")
        metrics.observe_request(endpoint, response.status_code, time.perf_counter() - start)
        return response

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        problems = [
            "body: not valid JSON" if e["type"] == "json_invalid"
            else f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}"
            for e in error.errors()
        ]  # fmt: skip
        return _error(422, "; ".join(problems[:5]))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException):
        return _error(error.status_code, str(error.detail))

    @app.exception_handler(Refused)
    async def refused(request: Request, error: Refused):
        return _error(error.status, error.message)

    @app.exception_handler(ValueError)
    async def bad_input(request: Request, error: ValueError):
        return _error(400, str(error))

    def served(name: str, endpoint: str) -> ServedModel:
        if name not in models:
            raise Refused(404, f"no model named {name!r}; the models are {sorted(models)}")
        model = models[name]
        if model.endpoint != endpoint:
            raise Refused(400, f"model {name!r} is a {model.task} model: it answers "
                               f"/{model.endpoint}, not /{endpoint}")  # fmt: skip
        return model

    async def in_worker(model: ServedModel, function, *args):
        return await asyncio.get_running_loop().run_in_executor(model.executor, function, *args)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html")

    @app.get("/healthz")
    async def healthz() -> dict:
        return {"status": "ok", "models": len(models)}

    @app.get("/v1/models")
    async def list_models() -> dict:
        return {"models": [model.describe() for model in models.values()]}

    @app.get("/metrics", response_class=PlainTextResponse)
    async def prometheus() -> PlainTextResponse:
        return PlainTextResponse(metrics.text(), media_type=metrics.content_type)

    @app.post("/v1/models/{name}/predict")
    async def predict(name: str, body: PredictRequest) -> dict:
        model = served(name, "predict")
        inputs, single = body.inputs()
        if body.trace:
            trace = await in_worker(model, model.predictor.trace, inputs[0])
            prediction = _prediction(trace.classes, trace.probabilities[-1].tolist())
            rows = trace.probabilities.tolist()
            return {**prediction, "trace": {"steps": trace.steps, "probabilities": rows}}
        predictions = await model.batcher.submit(inputs)
        shown = [{"label": p.label, "probabilities": p.probabilities} for p in predictions]
        return shown[0] if single else {"predictions": shown}

    @app.post("/v1/models/{name}/generate")
    async def generate(name: str, body: GenerateRequest):
        model = served(name, "generate")
        prime, pieces = _generation(model, body)
        if body.stream:
            return StreamingResponse(_events(model, pieces), media_type="text/event-stream")
        texts = await in_worker(model, lambda: [list(piece) for piece in pieces])
        if model.task == "charlm":
            return {"text": prime + "".join(texts[0]), "generated": "".join(texts[0])}
        return {"sentences": [" ".join(words) for words in texts]}

    @app.post("/v1/models/{name}/forecast")
    async def forecast(name: str, body: ForecastRequest) -> dict:
        model = served(name, "forecast")
        result = await in_worker(model, model.forecast, body.history, body.horizon)
        return forecast_json(result)

    @app.post("/v1/models/{name}/translate")
    async def translate(name: str, body: TranslateRequest) -> dict:
        model = served(name, "translate")
        result = await in_worker(model, model.predictor.translate, body.text, body.beam)
        return {"output": result.text, "source": result.source, "tokens": result.output,
                "attention": result.attention.tolist()}  # fmt: skip

    @app.websocket("/v1/models/{name}/stream")
    async def stream(socket: WebSocket, name: str, session: str | None = None) -> None:
        """An online session: ``{"session": id, "resumed": bool, "steps": n}`` first, then
        one reply per message (``{"word"|"char"|"step": ...}``; a forecast model's,
        ``{"observation": {...}}`` or ``{"observations": [...]}``, gets ``{"step": n,
        "forecast": ...}`` as the forecast endpoint gives it); ``{"end": true}`` ends it.
        A bad message gets ``{"error": ...}`` and the session goes on."""
        await socket.accept()
        model = models.get(name)
        problem = _stream_refusal(socket, settings.api_key, name, model)
        if problem is not None:
            await socket.close(code=problem[0], reason=problem[1])
            return
        current, resumed, evicted = model.sessions.attach(session, socket)
        for old in evicted:
            if old.socket is not None:
                reason = (
                    f"closed to make room: the cap of {model.sessions.cap} sessions was reached"
                )
                await old.socket.close(code=EVICTED, reason=reason)
        metrics.streams.labels(name).set(len(model.sessions.open))
        await socket.send_json({"session": current.id, "resumed": resumed,
                                "steps": current.state.steps})  # fmt: skip
        try:
            while True:
                message = await _receive(socket)
                if message == {"end": True}:
                    model.sessions.end(current)
                    await socket.close(code=1000, reason="session ended")
                    return
                try:
                    steps = model.online.encode(message)
                except ValueError as error:
                    await socket.send_json({"error": str(error)})
                    continue
                for step in steps:
                    reply = await model.stepper.submit((current.state, step))
                model.sessions.used(current)
                await socket.send_json(reply)
        except WebSocketDisconnect:
            model.sessions.detach(current)
        finally:
            metrics.streams.labels(name).set(len(model.sessions.open))

    return app


async def _receive(socket: WebSocket) -> object:
    """The next message as JSON; anything else is a message that says so."""
    text = await socket.receive_text()
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return {"not JSON": text[:40]}


def _stream_refusal(socket: WebSocket, key: str | None, name: str, model) -> tuple[int, str] | None:
    """(close code, reason) when the session cannot open: no key, no such model, or one
    without online sessions."""
    if key is not None:
        given = socket.headers.get("x-api-key") or socket.query_params.get("key", "")
        if not secrets.compare_digest(given.encode(), key.encode()):
            return 4401, "this server needs its API key: header X-API-Key or ?key="
    if model is None:
        return 4404, f"no model named {name!r}"
    if model.online is None:
        return 4400, f"model {name!r} is a {model.task} model, which has no online sessions"
    return None


def _generation(model: ServedModel, body: GenerateRequest) -> tuple[str, list]:
    """-> (the prime, one iterator of pieces per output: characters (charlm), words
    (generator))."""
    predictor = model.predictor
    sampling = {"temperature": body.temperature, "top_k": body.top_k, "top_p": body.top_p}
    if model.task == "charlm":
        if body.condition is not None:
            raise Refused(422, "condition: a charlm model takes no condition")
        prime = "\n" if body.prime is None else body.prime
        return prime, [predictor.iter_generate(prime, body.length or 500, seed=body.seed,
                                               **sampling)]  # fmt: skip
    if body.condition is None:
        raise Refused(422, f"condition: required, one of {predictor.classes}")
    if body.condition not in predictor.classes:
        raise Refused(422, f"condition: must be one of {predictor.classes}, got {body.condition!r}")
    import torch

    generator = torch.Generator().manual_seed(body.seed) if body.seed is not None else None
    return body.prime or "", [
        predictor.iter_generate(body.condition, body.length or 40, body.prime, generator,
                                **sampling)
        for _ in range(body.count)
    ]  # fmt: skip


async def _events(model: ServedModel, pieces: list) -> AsyncIterator[str]:
    """Server-sent events: ``{"output": k, "piece": ...}`` as each piece is drawn, then an
    ``end`` event (or an ``error`` one: the status line has long been sent)."""
    loop = asyncio.get_running_loop()
    done = object()
    try:
        for k, iterator in enumerate(pieces):
            while (
                piece := await loop.run_in_executor(model.executor, next, iterator, done)
            ) is not done:
                yield f"data: {json.dumps({'output': k, 'piece': piece})}\n\n"
        yield "event: end\ndata: {}\n\n"
    except ValueError as error:
        yield f"event: error\ndata: {json.dumps({'error': str(error)})}\n\n"


def _prediction(classes: list[str], row: list[float]) -> dict:
    best = max(range(len(classes)), key=row.__getitem__)
    return {"label": classes[best], "probabilities": dict(zip(classes, row, strict=True))}


def _check_key(request: Request, key: str | None) -> None:
    if key is None or request.url.path == "/healthz":
        return
    given = request.headers.get("x-api-key") or request.headers.get("authorization", "")
    given = given.removeprefix("Bearer ").strip()
    if not secrets.compare_digest(given.encode(), key.encode()):
        raise Refused(
            401, "this server needs its API key: header X-API-Key or Authorization: Bearer"
        )


def _check_size(request: Request, limit: int) -> None:
    length = request.headers.get("content-length")
    if length is not None and (not length.isdigit() or int(length) > limit):
        raise Refused(413, f"the body is over the limit of {limit} bytes")


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)
