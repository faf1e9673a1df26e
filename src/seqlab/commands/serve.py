"""``seqlab serve DIR [DIR ...]``: every trained model behind one HTTP service (seqlab.serve).

Each directory (``DIR``, named after its last part, or ``NAME=DIR``) is loaded with
``seqlab.load``, so a directory that cannot be loaded is refused in one line before anything
listens. The service binds to loopback unless ``--host`` says otherwise; ``--port 0`` takes any
free port. Every limit of ``seqlab.serve.settings.ServeSettings`` has its flag here. With
``--api-key-env NAME`` every ``/v1`` route needs the key held in the environment variable NAME
(read from the environment so that it never shows in ``ps`` or the shell's history).

uvicorn runs the application; its access log is off because the service logs its own line per
request (``seqlab.serve`` logger, standard error, at ``--log-level info``). On SIGTERM (or
Ctrl+C) uvicorn stops accepting connections, lets in-flight requests finish (at most
``--shutdown-timeout`` seconds), then the application stops its batchers; the command exits 0.

This module is imported while ``seqlab --help`` builds its parser, so it imports neither the
service nor uvicorn until the command runs.
"""

from __future__ import annotations

import argparse
import gc
import logging
import math
import os
import signal
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from seqlab.errors import SeqlabError

INSTALL_HINT = "pip install 'seqlab[serve]'"
LOG_LEVELS = ("debug", "info", "warning", "error")


@dataclass(frozen=True)
class _Limit:
    """One ServeSettings field set from the command line: its flag, type and default (the
    dataclass's own default; tests/serve/test_serve_command.py checks that they agree)."""

    flag: str
    field: str
    kind: type
    default: float
    metavar: str
    help: str
    may_be_zero: bool = False


# The defaults are spelt out (not read from ServeSettings) because importing seqlab.serve loads
# FastAPI, which `seqlab --help` must not need.
LIMITS = (
    _Limit("--max-batch-size", "max_batch_size", int, 32, "N",
           "items run together in one model call"),
    _Limit("--max-batch-tokens", "max_batch_tokens", int, 8192, "N",
           "a batch's padded size, longest item's tokens x items"),
    _Limit("--max-wait-ms", "max_wait_ms", float, 2.0, "MS",
           "how long the first item of a batch waits for others", may_be_zero=True),
    _Limit("--queue-size", "queue_size", int, 512, "N",
           "items waiting per model; past it requests get 503 with Retry-After"),
    _Limit("--retry-after", "retry_after_s", int, 1, "S",
           "the Retry-After seconds a 503 suggests", may_be_zero=True),
    _Limit("--request-timeout", "request_timeout_s", float, 30.0, "S",
           "seconds a request may wait for its model before a 504"),
    _Limit("--max-body-bytes", "max_body_bytes", int, 1_000_000, "N",
           "request body size; larger gets 413"),
    _Limit("--max-documents", "max_documents", int, 100, "N", "documents per request"),
    _Limit("--max-chars", "max_chars", int, 5120, "N", "characters per document"),
    _Limit("--max-tokens", "max_tokens", int, 512, "N",
           "tokens per sequence; over it, see --long-text"),
    _Limit("--max-generate-tokens", "max_generate_tokens", int, 1000, "N",
           "new tokens per generation"),
    _Limit("--max-forecast-rows", "max_forecast_rows", int, 100_000, "N",
           "rows of history per forecast"),
    _Limit("--max-stream-connections", "max_stream_connections", int, 64, "N",
           "open WebSocket streams at once"),
    _Limit("--stream-idle-timeout", "stream_idle_timeout_s", float, 300.0, "S",
           "seconds a WebSocket stream may stay silent before it is closed"),
)  # fmt: skip


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve",
        help="serve trained models over HTTP (needs the serve extra)",
        description=(
            "Load every model directory given (NAME=DIR names a model; otherwise the "
            "directory's name does) and answer HTTP requests: POST /v1/sentiment, /v1/forecast, "
            "/v1/translate, /v1/generate, WS /v1/sentiment/stream, GET /v1/models, /healthz, "
            "/readyz, /metrics, the page at / and the API docs at /docs. Needs the serve extra: "
            f"{INSTALL_HINT}."
        ),
    )
    parser.add_argument(
        "model_dirs", nargs="+", metavar="DIR", help="a model directory, or NAME=DIR"
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine)"
    )
    parser.add_argument(
        "--port", type=int, default=8000, help="port to bind (default 8000; 0: any free port)"
    )
    parser.add_argument(
        "--batching",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="gather concurrent requests into batches (default on; off runs each item alone)",
    )
    for limit in LIMITS:
        parser.add_argument(
            limit.flag,
            dest=limit.field,
            type=limit.kind,
            default=limit.default,
            metavar=limit.metavar,
            help=f"{limit.help} (default {limit.kind(limit.default)})",
        )
    parser.add_argument(
        "--long-text",
        choices=("truncate", "refuse"),
        default="truncate",
        help="a sequence over --max-tokens is truncated (the response says so) or refused "
        "(default truncate)",
    )
    parser.add_argument(
        "--api-key-env",
        metavar="NAME",
        help="require on every /v1 route the key held in environment variable NAME, in the "
        "X-API-Key (or Ocp-Apim-Subscription-Key) header",
    )
    parser.add_argument(
        "--threads", type=int, metavar="N", help="torch threads (default: torch's own choice)"
    )
    parser.add_argument(
        "--dtype",
        choices=("float32", "bfloat16"),
        default="float32",
        help="bfloat16 runs attention sentiment classifiers (Transformer, MiniLM) with bfloat16 "
        "weights: about twice the requests per core on a CPU with AVX-512 BF16, probabilities "
        "within about 1e-3 (default float32)",
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=float,
        default=30.0,
        metavar="S",
        help="after SIGTERM, seconds in-flight requests get to finish (default 30)",
    )
    parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        default="info",
        help="info logs one line per request (default info)",
    )
    parser.set_defaults(command=run)


def check_arguments(args: argparse.Namespace) -> None:
    """Every value a flag can get wrong, named by its flag (before any model loads)."""
    for limit in LIMITS:
        value = getattr(args, limit.field)
        if not math.isfinite(value) or value < 0 or (value == 0 and not limit.may_be_zero):
            bound = "must not be negative" if limit.may_be_zero else "must be positive"
            raise SeqlabError(f"{limit.flag} ({value}) {bound}")
    if not 0 <= args.port < 65536:
        raise SeqlabError(f"--port ({args.port}) must be 0..65535")
    if args.threads is not None and args.threads < 1:
        raise SeqlabError(f"--threads ({args.threads}) must be at least 1")
    if not (math.isfinite(args.shutdown_timeout) and args.shutdown_timeout > 0):
        raise SeqlabError(f"--shutdown-timeout ({args.shutdown_timeout}) must be positive")


def api_key(variable: str | None) -> str | None:
    """The key held in environment variable ``variable`` (None without --api-key-env)."""
    if variable is None:
        return None
    key = os.environ.get(variable, "")
    if not key:
        raise SeqlabError(
            f"--api-key-env {variable}: the environment variable {variable} is unset or empty; "
            f"export {variable}=KEY first"
        )
    return key


def settings_values(args: argparse.Namespace) -> dict[str, Any]:
    """The ServeSettings fields the arguments give."""
    values: dict[str, Any] = {limit.field: getattr(args, limit.field) for limit in LIMITS}
    values.update(
        host=args.host,
        port=args.port,
        batching=args.batching,
        long_text=args.long_text,
        api_key=api_key(args.api_key_env),
    )
    return values


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or the one-line reason it cannot be had."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        # proto=IPPROTO_TCP, not the default 0: asyncio turns Nagle's algorithm off only on
        # connections whose socket says TCP, and with it on, each keep-alive answer written in
        # two pieces waits for the client's delayed ACK (40 ms).
        sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except OSError as error:
        raise SeqlabError(
            f"cannot listen on {host}:{port} ({error.strerror or error}); pick another --port "
            "or --host"
        ) from None
    # Listening now: a client that connects while uvicorn starts waits in the backlog instead of
    # being refused.
    sock.listen(2048)
    return sock


def configure_logging(level: str) -> None:
    """The service's request lines and uvicorn's own messages, on standard error."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("seqlab.serve", "uvicorn"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(level.upper())
        logger.propagate = False


@contextmanager
def stop_signals_noted() -> Iterator[list[int]]:
    """uvicorn catches SIGTERM and SIGINT itself, shuts down gracefully, then raises the signal
    again with the handlers it found in place. These handlers take that second delivery, so a
    requested stop ends the command with status 0 instead of death by signal."""
    received: list[int] = []

    def note(signum: int, _: FrameType | None) -> None:
        received.append(signum)

    previous = {stop: signal.signal(stop, note) for stop in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield received
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)


def run(args: argparse.Namespace) -> int:
    check_arguments(args)
    values = settings_values(args)
    try:
        import uvicorn

        from seqlab.serve import ServeSettings, ServiceState, create_app, load_models
        from seqlab.serve.precision import apply_dtype
    except ImportError as error:
        raise SeqlabError(
            f"seqlab serve needs the serve extra ({error.name or error} is missing): {INSTALL_HINT}"
        ) from None
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    settings = ServeSettings(**values)
    models = load_models(args.model_dirs)
    for line in apply_dtype(models.values(), args.dtype):
        print(f"seqlab serve: {line}", file=sys.stderr, flush=True)
    sock = bind(settings.host, settings.port)
    configure_logging(args.log_level)  # once nothing can be refused: this process now serves
    state = ServiceState(models=models, settings=settings)
    config = uvicorn.Config(
        create_app(state),
        access_log=False,  # the service logs its own line per request
        log_config=None,  # keep the handlers configure_logging set
        log_level=args.log_level,
        timeout_graceful_shutdown=args.shutdown_timeout,
        lifespan="on",
    )
    host, port = sock.getsockname()[:2]
    shown_host = f"[{host}]" if ":" in host else host
    names = ", ".join(f"{model.name} ({model.task})" for model in models.values())
    print(f"seqlab serve: listening on http://{shown_host}:{port} ({names})", flush=True)
    # Everything loaded so far (torch, the models, FastAPI) lives as long as the process: frozen,
    # the garbage collector's full passes no longer walk it. Without this, a full pass every few
    # thousand requests stalls the event loop for over 100 ms, the service's p99 latency.
    gc.collect()
    gc.freeze()
    with stop_signals_noted() as received:
        uvicorn.Server(config).run(sockets=[sock])
    sock.close()
    if received:
        print(f"seqlab serve: stopped ({signal.Signals(received[0]).name})", file=sys.stderr)
    return 0
