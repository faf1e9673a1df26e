"""Load on ``seqlab serve``: requests per second, latency and errors of ``POST /v1/sentiment``
with batching on and off, then overload, memory and recovery.

The script starts ``seqlab serve NAME=DIR --port 0`` as a subprocess for each model and each
batching setting, and is itself the load generator: a separate process on loopback, asyncio
with a keep-alive HTTP/1.1 client of its own (a few lines over asyncio streams; a general
client costs more CPU per request than the service does on a 2-core machine). Each request
carries one SST-2 dev sentence (SEQLAB_DATA/sst2/dev.tsv, cycled), in the Azure shape
``{"documents": [{"id": "1", "text": ...}]}``. Per server, in order:

1. warm-up: ``--connections`` clients back to back for 1 s (not counted);
2. capacity (closed loop): ``--connections`` clients each sending its next request as soon as
   the last is answered, for ``--seconds``: requests answered 200 per second, latency p50, p95
   and p99, and errors (any other status or a failed connection);
3. at the target rate (open loop): requests due on a fixed schedule, ``--rate`` per second
   (default: the issue's target, 1,000 for the LSTM, 100 for MiniLM), whether or not earlier
   ones are answered, spread over ``--open-connections`` keep-alive connections, for
   ``--seconds``. Latency runs from each request's due time, so a server that falls behind is
   charged for the wait (no coordinated omission). The target is met when at least 99% of the
   due requests were sent, every one was answered 200, and p99 is under the issue's bound
   (50 ms for the LSTM, 150 ms for MiniLM);
4. overload (batching on only: the deployed setting), ``--overload-rounds`` times: open loop
   asking for ten times the capacity of step 2 on ``--overload-connections`` connections, for
   ``--seconds`` (the generator sends what its core allows). Counted: 200s, 503s (the bounded
   queue refusing, with Retry-After), anything else; the server's resident memory (VmRSS of
   /proc/PID/status) before and after each round and its peak (VmHWM): rounds that end at the
   same size show there is no growth; whether the process is alive and /healthz answers;
5. recovery, after each round: from the moment the overload stops sending (requests already
   sent still finish), one probe every 10 ms; the recovery time runs from the stop to the first
   of five answers in a row that are 200 within the target's p99 bound (latency back to normal).

Every phase is bounded by ``--seconds`` and ``--max-requests``. The server runs with
``--threads`` torch threads and logs at ``--log-level`` (``info``, the service's default, logs
one line per request to a file).

Usage: python benchmarks/serve_load.py --lstm DIR [--minilm DIR] [--seconds 5]
       [--connections 32] [--open-connections 64] [--overload-connections 1024]
       [--overload-rounds 2] [--rate R] [--threads 1] [--log-level info]
       [--max-requests 100000] [--note TEXT] [--no-record]
Trains nothing: give trained sentiment model directories (``--minilm`` needs the ``pretrained``
extra). Needs SEQLAB_DATA (the directory holding sst2/).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import re
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _report import append_section, markdown_table, positive_int, positive_number  # noqa: E402
from seqlab.data.sources import resolve_file  # noqa: E402
from seqlab.data.text_files import read_labelled_texts  # noqa: E402

ROUTE = "/v1/sentiment"
# The targets with batching on this 2-core machine: (requests/s, p99 seconds).
TARGETS = {"lstm": (1000.0, 0.050), "minilm": (100.0, 0.150)}
RECOVERY_STREAK, PROBE_EVERY, RECOVERY_LIMIT = 5, 0.010, 30.0
Address = tuple[str, int]


# ---- a minimal keep-alive HTTP/1.1 client ----
class HttpConnection:
    """One keep-alive connection; ``request(raw)`` sends prepared request bytes and reads the
    answer's status and body (Content-Length or chunked)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.closed = False

    @classmethod
    async def open(cls, address: Address) -> HttpConnection:
        reader, writer = await asyncio.open_connection(*address)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        status_line = await self.reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status = int(status_line.split(b" ", 2)[1])
        length, chunked = None, False
        while True:
            line = await self.reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == b"content-length":
                length = int(value)
            elif name == b"transfer-encoding":
                chunked = b"chunked" in value
            elif name == b"connection" and value == b"close":
                self.closed = True
        if chunked:
            body = b""
            while size := int((await self.reader.readline()).split(b";")[0], 16):
                body += await self.reader.readexactly(size + 2)
            await self.reader.readline()  # the empty trailer
        elif length is not None:
            body = await self.reader.readexactly(length)
        else:
            body, self.closed = await self.reader.read(), True
        return status, body

    def close(self) -> None:
        self.closed = True
        self.writer.close()


def sentiment_request(address: Address, text: str, index: int) -> bytes:
    body = json.dumps({"documents": [{"id": str(index), "text": text}]}).encode()
    head = (
        f"POST {ROUTE} HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def get_request(address: Address, path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: {address[0]}:{address[1]}\r\n\r\n".encode()


# ---- what a phase counts ----
@dataclass
class Outcome:
    statuses: Counter[int] = field(default_factory=Counter)
    failed_connections: int = 0
    latencies: list[float] = field(default_factory=list)  # of the 200 answers
    sent: int = 0
    due: int = 0  # open loop: the requests the schedule asked for
    seconds: float = 0.0  # from the first send to the last answer

    def note(self, status: int, seconds: float) -> None:
        self.statuses[status] += 1
        if status == 200:
            self.latencies.append(seconds)

    @property
    def answered_ok(self) -> int:
        return self.statuses[200]

    @property
    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status != 200) + (
            self.failed_connections
        )

    @property
    def per_second(self) -> float:
        return self.answered_ok / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=1000, method="inclusive")[round(q * 10) - 1]


async def send(
    connection: HttpConnection | None, address: Address, raw: bytes
) -> tuple[HttpConnection | None, int]:
    """(the connection to reuse or None, the status; 0 for a failed connection)."""
    try:
        if connection is None or connection.closed:
            connection = await HttpConnection.open(address)
        status, _ = await connection.request(raw)
    except (OSError, ConnectionError, asyncio.IncompleteReadError, ValueError, IndexError):
        if connection is not None:
            connection.close()
        return None, 0
    return (None if connection.closed else connection), status


async def closed_loop(
    address: Address, requests: list[bytes], *, connections: int, seconds: float, limit: int
) -> Outcome:
    """``connections`` clients, each sending its next request when the last is answered."""
    outcome = Outcome()
    indices = itertools.count()
    started = time.perf_counter()
    deadline = started + seconds

    async def client() -> None:
        connection: HttpConnection | None = None
        while time.perf_counter() < deadline and (index := next(indices)) < limit:
            outcome.sent += 1
            sent_at = time.perf_counter()
            connection, status = await send(connection, address, requests[index % len(requests)])
            if status == 0:
                outcome.failed_connections += 1
            else:
                outcome.note(status, time.perf_counter() - sent_at)
        if connection is not None:
            connection.close()

    await asyncio.gather(*(client() for _ in range(connections)))
    outcome.seconds = time.perf_counter() - started
    return outcome


async def open_loop(
    address: Address,
    requests: list[bytes],
    *,
    rate: float,
    seconds: float,
    limit: int,
    connections: int,
) -> Outcome:
    """Requests on a fixed schedule, ``rate`` per second, whether or not earlier ones are
    answered: request ``n`` is due at ``n / rate`` seconds and goes out on connection
    ``n % connections`` (one request at a time per connection, HTTP/1.1). A connection whose
    answers come late sends its next request at once; latency counts from the due time, so the
    wait for a late connection is charged to the server. Nothing is sent after ``seconds``:
    requests still due then are not sent (``sent`` falls short of ``rate * seconds``). The
    connections are opened before the schedule starts, as a server's long-lived clients are."""
    outcome = Outcome(due=min(limit, math.ceil(rate * seconds)))
    opened = await asyncio.gather(
        *(HttpConnection.open(address) for _ in range(connections)), return_exceptions=True
    )
    started = time.perf_counter()
    end = started + seconds
    last_answer = started

    async def client(first: int) -> None:
        nonlocal last_answer
        ready = opened[first]
        connection = ready if isinstance(ready, HttpConnection) else None
        for index in range(first, limit, connections):
            due = started + index / rate
            if due >= end:
                break
            if (delay := due - time.perf_counter()) > 0:
                await asyncio.sleep(delay)
            elif time.perf_counter() >= end:
                break
            outcome.sent += 1
            connection, status = await send(connection, address, requests[index % len(requests)])
            last_answer = time.perf_counter()
            if status == 0:
                outcome.failed_connections += 1
            else:
                outcome.note(status, last_answer - due)
        if connection is not None:
            connection.close()

    await asyncio.gather(*(client(first) for first in range(connections)))
    outcome.seconds = max(last_answer - started, 1e-9)
    return outcome


async def recovery_seconds(
    address: Address, raw: bytes, stopped_at: float, *, normal: float
) -> float | None:
    """Seconds from ``stopped_at`` to the first of RECOVERY_STREAK answers in a row that are
    200 within ``normal`` seconds (the latency bound of the model's target)."""
    connection: HttpConnection | None = None
    streak, first_ok = 0, 0.0
    while time.perf_counter() - stopped_at < RECOVERY_LIMIT:
        sent_at = time.perf_counter()
        connection, status = await send(connection, address, raw)
        answered_at = time.perf_counter()
        if status == 200 and answered_at - sent_at < normal:
            first_ok = answered_at if streak == 0 else first_ok
            streak += 1
            if streak == RECOVERY_STREAK:
                if connection is not None:
                    connection.close()
                return max(0.0, first_ok - stopped_at)
        else:
            streak = 0
        await asyncio.sleep(PROBE_EVERY)
    return None


@dataclass
class Overload:
    outcome: Outcome
    rate: float  # requests sent per second
    recovery: float | None
    rss_before: int  # kB
    rss_after: int
    peak: int
    alive: bool


async def overload(
    server: Server, requests: list[bytes], *, rate: float, normal: float, args: argparse.Namespace
) -> Overload:
    rss_before = server.memory()["VmRSS"]
    begun = time.perf_counter()
    load = asyncio.ensure_future(
        open_loop(server.address, requests, rate=rate, seconds=args.seconds,
                  limit=args.max_requests, connections=args.overload_connections)
    )  # fmt: skip
    stopped_at = begun + args.seconds  # nothing new is sent from here on
    await asyncio.sleep(stopped_at - time.perf_counter())
    recovery, outcome = await asyncio.gather(
        recovery_seconds(server.address, requests[0], stopped_at, normal=normal), load
    )
    _, health = await send(None, server.address, get_request(server.address, "/healthz"))
    alive = server.process.poll() is None and health == 200
    memory = server.memory() if server.process.poll() is None else {"VmRSS": 0, "VmHWM": 0}
    return Overload(outcome, outcome.sent / args.seconds, recovery, rss_before,
                    memory["VmRSS"], memory["VmHWM"], alive)  # fmt: skip


# ---- the server ----
@dataclass
class Server:
    process: subprocess.Popen[str]
    address: Address

    def memory(self) -> dict[str, int]:
        """VmRSS (resident now) and VmHWM (the peak), in kB, from /proc/PID/status."""
        text = Path(f"/proc/{self.process.pid}/status").read_text()
        return {
            key: int(re.search(rf"^{key}:\s+(\d+) kB", text, re.M).group(1))  # type: ignore[union-attr]
            for key in ("VmRSS", "VmHWM")
        }


def serve_command(
    name: str, model_dir: Path, *, batching: bool, args: argparse.Namespace
) -> list[str]:
    return [
        "seqlab",
        "serve",
        f"{name}={model_dir}",
        "--port",
        "0",
        "--threads",
        str(args.threads),
        "--log-level",
        args.log_level,
        "--dtype",
        args.dtype,
        *([] if batching else ["--no-batching"]),
    ]


@contextmanager
def running_server(command: list[str], log: Path) -> Iterator[Server]:
    with log.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "seqlab", *command[1:]],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 300)
        line = process.stdout.readline() if ready else ""
        match = re.search(r"listening on http://([\d.]+):(\d+) ", line)
        if match is None:
            raise SystemExit(f"the server did not start: {line!r}\n{log.read_text()[-2000:]}")
        yield Server(process, (match.group(1), int(match.group(2))))
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if process.stdout is not None:
            process.stdout.close()


# ---- one model, one setting ----
@dataclass
class Measured:
    model: str
    batching: bool
    command: str
    capacity: Outcome
    at_rate: Outcome
    rate: float
    target: tuple[float, float]
    overloads: list[Overload]
    log_lines: int


async def measure_async(
    server: Server,
    requests: list[bytes],
    *,
    batching: bool,
    rate: float,
    target: tuple[float, float],
    args: argparse.Namespace,
) -> tuple[Outcome, Outcome, list[Overload]]:
    address = server.address
    await closed_loop(
        address, requests, connections=args.connections, seconds=1.0, limit=args.max_requests
    )
    capacity = await closed_loop(
        address,
        requests,
        connections=args.connections,
        seconds=args.seconds,
        limit=args.max_requests,
    )
    at_rate = await open_loop(
        address,
        requests,
        rate=rate,
        seconds=args.seconds,
        limit=args.max_requests,
        connections=args.open_connections,
    )
    overloads = []
    for _ in range(args.overload_rounds if batching else 0):
        rate_asked = 10 * capacity.per_second
        overloads.append(
            await overload(server, requests, rate=rate_asked, normal=target[1], args=args)
        )
    return capacity, at_rate, overloads


def measure(
    model: str,
    model_dir: Path,
    *,
    batching: bool,
    texts: list[str],
    args: argparse.Namespace,
    logs: Path,
) -> Measured:
    command = serve_command(model, model_dir, batching=batching, args=args)
    print(f"$ {' '.join(command)}", flush=True)
    log = logs / f"{model}-{'batching' if batching else 'no-batching'}.log"
    target = TARGETS[model]
    rate = args.rate or target[0]
    with running_server(command, log) as server:
        requests = [sentiment_request(server.address, text, i) for i, text in enumerate(texts)]
        capacity, at_rate, overloads = asyncio.run(
            measure_async(server, requests, batching=batching, rate=rate, target=target, args=args)
        )
    log_lines = sum(1 for line in log.read_text().splitlines() if f"POST {ROUTE}" in line)
    return Measured(
        model, batching, " ".join(command), capacity, at_rate, rate, target, overloads, log_lines
    )


# ---- the report ----
def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}"


def errors_cell(outcome: Outcome) -> str:
    if not outcome.errors:
        return "0"
    shown = {str(s): n for s, n in sorted(outcome.statuses.items()) if s != 200}
    if outcome.failed_connections:
        shown["connection"] = outcome.failed_connections
    return f"{outcome.errors} ({', '.join(f'{k}: {v}' for k, v in shown.items())})"


def verdict(m: Measured) -> str:
    """Whether the open loop at the target rate met the issue's target."""
    rate, p99 = m.target
    r = m.at_rate
    kept_up = r.sent >= 0.99 * r.due and r.answered_ok == r.sent
    if kept_up and m.rate >= rate and r.percentile(99) < p99:
        return "meets"
    return f"misses ({rate:,.0f}/s, p99 < {p99 * 1e3:.0f} ms)"


def throughput_header(args: argparse.Namespace) -> list[str]:
    return ["model", "batching", f"closed loop ({args.connections} conn.): answered/s",
            "p50", "p95", "p99", "errors", "open loop: asked/s", "sent", "answered/s", "p50",
            "p95", "p99", "errors", "target"]  # fmt: skip


def throughput_row(m: Measured) -> list[str]:
    c, r = m.capacity, m.at_rate
    return [m.model, "on" if m.batching else "off", f"{c.per_second:,.0f}",
            ms(c.percentile(50)), ms(c.percentile(95)), ms(c.percentile(99)), errors_cell(c),
            f"{m.rate:,.0f}", f"{r.sent:,} of {r.due:,}", f"{r.per_second:,.0f}",
            ms(r.percentile(50)), ms(r.percentile(95)), ms(r.percentile(99)), errors_cell(r),
            verdict(m) if m.batching else ""]  # fmt: skip


OVERLOAD_HEADER = ["model", "round", "sent/s", "200", "503", "other errors",
                   "RSS before -> after (MiB)", "peak RSS (MiB)", "alive after",
                   "recovery"]  # fmt: skip


def overload_row(model: str, round_number: int, o: Overload) -> list[str]:
    statuses = o.outcome.statuses
    recovery = f"not within {RECOVERY_LIMIT:g} s" if o.recovery is None else f"{o.recovery:.2f} s"
    return [model, str(round_number), f"{o.rate:,.0f}", f"{statuses[200]:,}", f"{statuses[503]:,}",
            f"{o.outcome.errors - statuses[503]:,}",
            f"{o.rss_before / 1024:.0f} -> {o.rss_after / 1024:.0f}", f"{o.peak / 1024:.0f}",
            "yes" if o.alive else "NO", recovery]  # fmt: skip


def summary(m: Measured) -> str:
    """One line printed as soon as a server is measured."""
    c, r = m.capacity, m.at_rate
    return (
        f"  {m.model}, batching {'on' if m.batching else 'off'}: closed loop {c.per_second:,.0f}/s"
        f" p99 {ms(c.percentile(99))} ms; open loop {r.per_second:,.0f}/s of {m.rate:,.0f}, p99 "
        f"{ms(r.percentile(99))} ms, errors {r.errors}; {m.log_lines:,} request lines logged"
    )


def markdown_body(results: list[Measured], args: argparse.Namespace) -> str:
    overloads = [
        overload_row(m.model, number, o)
        for m in results
        for number, o in enumerate(m.overloads, start=1)
    ]
    commands = "\n".join(
        f"- {m.model}, batching {'on' if m.batching else 'off'}: `{m.command}`" for m in results
    )
    return (
        f"`POST {ROUTE}`, one SST-2 dev sentence per request; the load generator (one process, "
        "asyncio, keep-alive HTTP/1.1) and the server on one machine over loopback; each phase "
        f"{args.seconds:g} s; server torch threads {args.threads}, dtype {args.dtype}, log level "
        f"{args.log_level}. "
        "Latency in ms. Closed loop: each connection sends when answered. Open loop: requests "
        f"due on a fixed schedule, spread over {args.open_connections} connections, latency from "
        "the due time; sent: the due requests sent before the phase ended.\n\n"
        + markdown_table(throughput_header(args), [throughput_row(m) for m in results])
        + "\n\nOverload (batching on): open loop asking for ten times the closed-loop capacity, "
        f"over {args.overload_connections} connections; sent/s is what the generator managed. "
        "Resident memory after each round: equal sizes round after round mean no growth. "
        "Recovery: from the end of the overload to the first of "
        f"{RECOVERY_STREAK} answers in a row that are 200 within the target's p99 bound (a probe "
        f"every {PROBE_EVERY * 1e3:.0f} ms).\n\n"
        + markdown_table(OVERLOAD_HEADER, overloads)
        + f"\n\nServer commands:\n\n{commands}"
        + (f"\n\nNote: {args.note}" if args.note else "")
    )


def bfloat16_labels(model_dir: Path, texts: list[str], labels: list[str]) -> str:
    """What --dtype bfloat16 does to the MiniLM's answers: SST-2 dev accuracy in float32 and in
    bfloat16, the labels that change and the largest probability difference."""
    import torch

    import seqlab
    from seqlab.serve.precision import apply_dtype
    from seqlab.serve.state import LoadedModel
    from seqlab.tasks.sentiment.data import SST2_LABEL_NAMES

    torch.set_num_threads(1)
    model = LoadedModel("minilm", seqlab.load(model_dir), model_dir)
    predictor = model.predictor
    chunks = [texts[start : start + 32] for start in range(0, len(texts), 32)]
    before = torch.cat([predictor.probabilities(chunk) for chunk in chunks])  # (N, C)
    apply_dtype([model], "bfloat16")
    after = torch.cat([predictor.probabilities(chunk) for chunk in chunks])  # (N, C)
    names = predictor.labels
    truth = torch.tensor([names.index(SST2_LABEL_NAMES[label]) for label in labels])
    accuracy = [float((p.argmax(-1) == truth).float().mean()) for p in (before, after)]
    changed = int((before.argmax(-1) != after.argmax(-1)).sum())
    return (
        f"bfloat16 MiniLM on SST-2 dev ({len(texts)} sentences): accuracy {accuracy[0]:.2%} in "
        f"float32, {accuracy[1]:.2%} in bfloat16; {changed} labels changed; largest probability "
        f"difference {float((before - after).abs().max()):.4f}."
    )


# ---- the command line ----
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lstm", type=Path, help="a trained sentiment LSTM")
    parser.add_argument("--minilm", type=Path, help="a trained MiniLM sentiment classifier")
    parser.add_argument("--seconds", type=positive_number, default=5.0, help="per phase (5)")
    parser.add_argument(
        "--connections", type=positive_int, default=32, help="closed-loop clients (32)"
    )
    parser.add_argument(
        "--open-connections",
        type=positive_int,
        default=64,
        help="open-loop connections at the target rate (64)",
    )
    parser.add_argument(
        "--overload-connections",
        type=positive_int,
        default=1024,
        help="open-loop connections in the overload (1024)",
    )
    parser.add_argument(
        "--overload-rounds", type=positive_int, default=2, help="overload rounds (2)"
    )
    parser.add_argument(
        "--rate", type=positive_number, help="open-loop requests/s (default: each model's target)"
    )
    parser.add_argument("--threads", type=positive_int, default=1, help="server torch threads")
    parser.add_argument(
        "--dtype",
        choices=("float32", "bfloat16"),
        default="float32",
        help="the servers' --dtype (bfloat16 converts MiniLM; the dev labels it changes are "
        "counted first)",
    )
    parser.add_argument("--log-level", default="info", choices=("debug", "info", "warning"))
    parser.add_argument(
        "--max-requests",
        type=positive_int,
        default=100_000,
        help="at most this many requests per phase (100000)",
    )
    parser.add_argument("--note", default="", help="a sentence recorded with the results")
    parser.add_argument("--no-record", action="store_true", help="do not append to BENCHMARKS.md")
    args = parser.parse_args()
    models = {name: path for name, path in (("lstm", args.lstm), ("minilm", args.minilm)) if path}
    if not models:
        parser.error("give --lstm DIR, --minilm DIR or both")
    for name, directory in models.items():
        if not (directory / "config.json").is_file():
            parser.error(f"--{name} {directory} is not a model directory (no config.json)")
    dev = read_labelled_texts(resolve_file("sst2", "dev.tsv"))
    texts = list(dev.texts)
    precision = ""
    if args.dtype == "bfloat16" and args.minilm:
        precision = bfloat16_labels(args.minilm, texts, list(dev.labels))
        print(precision, flush=True)
    results = []
    with tempfile.TemporaryDirectory(prefix="serve-load-") as logs:
        for name, directory in models.items():
            for batching in (True, False):
                measured = measure(name, directory, batching=batching, texts=texts, args=args,
                                   logs=Path(logs))  # fmt: skip
                print(summary(measured), flush=True)
                results.append(measured)
    body = markdown_body(results, args) + (f"\n\n{precision}" if precision else "")
    print(body)
    if not args.no_record:
        append_section("Serving: load, overload and recovery", body)
    crashed = [m.model for m in results if any(not o.alive for o in m.overloads)]
    return 1 if crashed else 0


if __name__ == "__main__":
    sys.exit(main())
