"""``rnnkit serve RUN_DIR [RUN_DIR ...]``: the app (``rnnkit.serve.app``) on uvicorn.

Binds to 127.0.0.1 unless ``--host`` says otherwise. On SIGTERM or Ctrl-C uvicorn stops
taking connections and answers the requests in flight (up to ``--drain`` seconds) before
the models are closed.
"""

from __future__ import annotations

import argparse
import gc
from pathlib import Path

from rnnkit.arguments import positive


def add_serve_command(commands) -> None:
    serve = commands.add_parser(
        "serve",
        help="serve trained runs over HTTP: a JSON API, metrics and a web page",
        description="Each run directory is a model named by the directory's name. "
        "API: /v1/models, /v1/models/NAME/predict|generate|forecast|translate; "
        "/metrics (Prometheus), /docs (OpenAPI), /healthz.",
    )
    add = serve.add_argument
    add("runs", type=Path, nargs="+", help="run directories of rnnkit train")
    add("--host", default="127.0.0.1", help="the address to bind (default 127.0.0.1)")
    add("--port", type=int, default=8000)
    add("--max-batch", type=positive, default=64, help="requests run together (1: no batching)")
    add("--max-delay-ms", type=float, default=1.0, help="longest wait for a batch to fill")
    add("--api-key", default=None, help="required of every request but /healthz")
    add("--drain", type=float, default=30.0, help="seconds to finish requests on shutdown")


def serve(args: argparse.Namespace) -> None:
    import uvicorn

    from rnnkit.serve.app import Settings, create_app

    if not 0 <= args.port <= 65535:
        raise ValueError(f"--port must be in [0, 65535], got {args.port}")
    if not args.max_delay_ms >= 0:
        raise ValueError(f"--max-delay-ms must be >= 0, got {args.max_delay_ms}")
    settings = Settings(args.max_batch, args.max_delay_ms, args.api_key)
    app = create_app(args.runs, settings)
    # The loaded models, torch and the app are hundreds of thousands of long-lived objects; a full
    # collection walks them all (150 ms measured, stalling every request in flight, the
    # 99th percentile of benchmarks/serve.py). Frozen, they are left out of collections.
    gc.collect()
    gc.freeze()
    # No line per request (the metrics count them): a log that nobody reads, a pipe say,
    # would fill and stall the server.
    # No compression of WebSocket messages: a step's reply is small, and each connection's
    # deflate state costs memory that thousands of idle sessions would hold.
    uvicorn.run(app, host=args.host, port=args.port, timeout_graceful_shutdown=args.drain,
                log_level="info", access_log=False, ws_per_message_deflate=False)  # fmt: skip
