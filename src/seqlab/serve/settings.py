"""Every limit and knob of the service, in one frozen dataclass (``seqlab serve --help`` sets them).

Limits are checked before any model runs, so an oversized request costs a few microseconds and a
4xx, never memory: the study material's warning is a service whose misconfigured batch size
exhausted memory. The defaults suit the 2-core CPU this project is built on; a GPU host raises
``max_batch_size`` and ``max_batch_tokens``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LongTextPolicy = Literal["truncate", "refuse"]


@dataclass(frozen=True)
class ServeSettings:
    """host, port: where uvicorn binds (loopback unless told otherwise; port 0 takes any free
    port).

    Batching: up to ``max_batch_size`` items and ``max_batch_tokens`` tokens (padded length x
    rows) gathered within ``max_wait_ms`` of the first; ``batching=False`` runs every item alone
    (the benchmark's reference). ``queue_size`` items may wait per model before requests get 503
    with ``Retry-After: retry_after_s``; a request waits at most ``request_timeout_s``.

    Request limits: ``max_body_bytes`` per request body, ``max_documents`` per request,
    ``max_chars`` per document (Azure's limit is 5,120), ``max_tokens`` per sequence with
    ``long_text`` saying whether a longer one is truncated (and the response says so) or refused;
    ``max_generate_tokens`` new tokens per generation, ``max_forecast_rows`` rows per forecast.

    WebSocket streaming: at most ``max_stream_connections`` at once, each closed after
    ``stream_idle_timeout_s`` without a message. ``api_key``: when set, every ``/v1`` route needs
    it in the ``X-API-Key`` header (``Ocp-Apim-Subscription-Key`` is read too, as Azure clients
    send it)."""

    host: str = "127.0.0.1"
    port: int = 8000
    batching: bool = True
    max_batch_size: int = 32
    max_batch_tokens: int = 8192
    max_wait_ms: float = 2.0
    queue_size: int = 512
    retry_after_s: int = 1
    request_timeout_s: float = 30.0
    max_body_bytes: int = 1_000_000
    max_documents: int = 100
    max_chars: int = 5120
    max_tokens: int = 512
    long_text: LongTextPolicy = "truncate"
    max_generate_tokens: int = 1000
    max_forecast_rows: int = 100_000
    max_stream_connections: int = 64
    stream_idle_timeout_s: float = 300.0
    api_key: str | None = None

    def __post_init__(self) -> None:
        positive = (
            "max_batch_size", "max_batch_tokens", "queue_size", "request_timeout_s",
            "max_body_bytes", "max_documents", "max_chars", "max_tokens", "max_generate_tokens",
            "max_forecast_rows", "max_stream_connections", "stream_idle_timeout_s",
        )  # fmt: skip
        for name in positive:
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(f"serve setting {name} must be positive, got {value}")
        if self.max_wait_ms < 0 or self.retry_after_s < 0:
            raise ValueError("serve settings max_wait_ms and retry_after_s must not be negative")
        if self.long_text not in ("truncate", "refuse"):
            raise ValueError(
                f"serve setting long_text must be truncate or refuse, got {self.long_text!r}"
            )
        if not 0 <= self.port < 65536:
            raise ValueError(f"serve setting port must be 0..65535, got {self.port}")
