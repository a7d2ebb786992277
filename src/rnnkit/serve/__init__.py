"""``rnnkit serve``: trained runs behind an HTTP API (``app``), with micro-batching
(``batching``), Prometheus metrics (``metrics``) and the command itself (``server``)."""
