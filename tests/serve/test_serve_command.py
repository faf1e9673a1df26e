"""``seqlab serve``: the flags become the service's settings, bad arguments and directories are
refused in one line, and a real server in a subprocess answers, logs its requests, checks the
API key from the environment and shuts down on SIGTERM only after the request in flight is
answered."""

from __future__ import annotations

import dataclasses
import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("uvicorn", reason="the service needs the serve extra")

import httpx  # noqa: E402
from _cli_errors import refused  # noqa: E402

import seqlab  # noqa: E402
from seqlab import cli  # noqa: E402
from seqlab.commands import serve  # noqa: E402
from seqlab.serve import ServeSettings  # noqa: E402

KEY = "a-key-from-the-environment"
KEY_VARIABLE = "SEQLAB_TEST_SERVE_KEY"


def settings_from(*argv: str) -> dict[str, Any]:
    args = cli.build_parser().parse_args(["serve", *argv])
    return serve.settings_values(args)


# ---- flags ----
def test_every_setting_has_a_flag_whose_default_is_the_settings_default() -> None:
    assert settings_from("some/dir") == dataclasses.asdict(ServeSettings())


def test_the_flags_set_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    values = settings_from(
        "some/dir", "--host", "0.0.0.0", "--port", "9000", "--no-batching",
        "--max-batch-size", "8", "--max-batch-tokens", "1024", "--max-wait-ms", "0",
        "--queue-size", "16", "--retry-after", "5", "--request-timeout", "2.5",
        "--max-body-bytes", "4096", "--max-documents", "7", "--max-chars", "300",
        "--max-tokens", "64", "--long-text", "refuse", "--max-generate-tokens", "50",
        "--max-forecast-rows", "900", "--max-stream-connections", "3",
        "--stream-idle-timeout", "12", "--api-key-env", KEY_VARIABLE,
    )  # fmt: skip
    assert ServeSettings(**values) == ServeSettings(
        host="0.0.0.0", port=9000, batching=False, max_batch_size=8, max_batch_tokens=1024,
        max_wait_ms=0.0, queue_size=16, retry_after_s=5, request_timeout_s=2.5,
        max_body_bytes=4096, max_documents=7, max_chars=300, max_tokens=64, long_text="refuse",
        max_generate_tokens=50, max_forecast_rows=900, max_stream_connections=3,
        stream_idle_timeout_s=12.0, api_key=KEY,
    )  # fmt: skip


# ---- refusals, in one line with status 2 ----
@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--max-batch-size", "0"], "--max-batch-size (0) must be positive"),
        (["--queue-size", "-3"], "--queue-size (-3) must be positive"),
        (["--max-wait-ms", "-1"], "--max-wait-ms (-1.0) must not be negative"),
        (["--request-timeout", "nan"], "--request-timeout (nan) must be positive"),
        (["--port", "70000"], "--port (70000) must be 0..65535"),
        (["--threads", "0"], "--threads (0) must be at least 1"),
        (["--shutdown-timeout", "0"], "--shutdown-timeout (0.0) must be positive"),
    ],
)
def test_bad_values_are_refused_naming_the_flag(
    capsys: pytest.CaptureFixture[str],
    sentiment_lstm_dir: Path,
    flags: list[str],
    message: str,
) -> None:
    error = refused(capsys, "serve", str(sentiment_lstm_dir), *flags)
    assert error == f"seqlab: error: {message}\n"


def test_a_directory_that_cannot_be_loaded_is_refused_naming_it(
    capsys: pytest.CaptureFixture[str], sentiment_lstm_dir: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "missing"
    error = refused(capsys, "serve", str(sentiment_lstm_dir), f"other={missing}")
    assert error == (
        f"seqlab: error: model directory '{missing}' does not exist; pass a folder written by "
        "'seqlab train'\n"
    )
    error = refused(capsys, "serve", str(tmp_path))
    assert error == (
        f"seqlab: error: '{tmp_path}' has no config.json; pass a model directory written by "
        "'seqlab train'\n"
    )
    error = refused(capsys, "serve", f"a={sentiment_lstm_dir}", f"a={sentiment_lstm_dir}")
    assert error.startswith("seqlab: error: two models are named 'a' (")
    assert error.endswith("); name them with NAME=DIR\n")


def test_an_unset_or_empty_key_variable_is_refused(
    capsys: pytest.CaptureFixture[str], sentiment_lstm_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = (
        f"seqlab: error: --api-key-env {KEY_VARIABLE}: the environment variable {KEY_VARIABLE} "
        f"is unset or empty; export {KEY_VARIABLE}=KEY first\n"
    )
    monkeypatch.delenv(KEY_VARIABLE, raising=False)
    assert refused(capsys, "serve", str(sentiment_lstm_dir), "--api-key-env", KEY_VARIABLE) == (
        expected
    )
    monkeypatch.setenv(KEY_VARIABLE, "")
    assert refused(capsys, "serve", str(sentiment_lstm_dir), "--api-key-env", KEY_VARIABLE) == (
        expected
    )


def test_the_listening_socket_is_tcp_so_answers_are_not_delayed_by_nagle() -> None:
    with serve.bind("127.0.0.1", 0) as sock:
        assert sock.proto == socket.IPPROTO_TCP


def test_a_port_in_use_is_refused(
    capsys: pytest.CaptureFixture[str], sentiment_lstm_dir: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        error = refused(capsys, "serve", str(sentiment_lstm_dir), "--port", str(port))
    assert error == (
        f"seqlab: error: cannot listen on 127.0.0.1:{port} (Address already in use); pick "
        "another --port or --host\n"
    )


def test_without_the_serve_extra_the_command_says_what_to_install(
    capsys: pytest.CaptureFixture[str], sentiment_lstm_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # `import uvicorn` now fails
    error = refused(capsys, "serve", str(sentiment_lstm_dir))
    assert error == (
        "seqlab: error: seqlab serve needs the serve extra (uvicorn is missing): "
        "pip install 'seqlab[serve]'\n"
    )


def test_the_installed_command_refuses_in_one_line_with_status_2(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "seqlab", "serve", str(tmp_path / "nowhere")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == (
        f"seqlab: error: model directory '{tmp_path / 'nowhere'}' does not exist; pass a folder "
        "written by 'seqlab train'\n"
    )
    assert result.stdout == ""


# ---- a real server ----
@dataclass
class Server:
    process: subprocess.Popen[str]
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8")


@contextmanager
def running_server(
    folder: Path, *arguments: str, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """``seqlab serve ARGUMENTS --port 0`` in a subprocess, once it says where it listens."""
    log_path = folder / "stderr.log"
    with log_path.open("w", encoding="utf-8") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "seqlab", "serve", *arguments, "--port", "0", "--threads", "1"],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 120)
        line = process.stdout.readline() if ready else ""
        match = re.fullmatch(r"seqlab serve: listening on (http://127\.0\.0\.1:\d+) \(.*\)\n", line)
        assert match, f"no address in {line!r}; stderr: {log_path.read_text()}"
        yield Server(process, match.group(1), log_path)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        if process.stdout is not None:
            process.stdout.close()


def sentiment_scores(model_dir: Path, text: str) -> dict[str, Any]:
    result = seqlab.load(model_dir).predict([text])[0]
    return {"sentiment": result["sentiment"], "confidenceScores": result["confidenceScores"]}


def test_a_server_answers_logs_each_request_and_checks_the_key_from_the_environment(
    sentiment_lstm_dir: Path, forecasting_dir: Path, tmp_path: Path
) -> None:
    env = {**os.environ, KEY_VARIABLE: KEY}
    specs = [f"reviews={sentiment_lstm_dir}", str(forecasting_dir)]
    flags = ["--api-key-env", KEY_VARIABLE, "--max-body-bytes", "300"]
    with (
        running_server(tmp_path, *specs, *flags, env=env) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        assert client.get("/healthz").json() == {"status": "ok"}
        assert client.get("/readyz").json() == {"status": "ready", "models": 2}
        assert client.get("/v1/models").status_code == 401
        keyed = {"X-API-Key": KEY}
        assert client.get("/v1/models", headers=keyed).json() == {
            "models": [
                {"name": "reviews", "task": "sentiment", "family": "lstm", "dtype": "float32"},
                {
                    "name": "forecasting",
                    "task": "forecasting",
                    "family": "lstm",
                    "dtype": "float32",
                },
            ]
        }
        text = "a wonderful film"
        body = {"documents": [{"id": "1", "text": text}]}
        answer = client.post("/v1/sentiment", json=body, headers=keyed).json()["documents"][0]
        assert {k: answer[k] for k in ("sentiment", "confidenceScores")} == sentiment_scores(
            sentiment_lstm_dir, text
        )

        # Keep-alive answers come without the 40 ms wait of Nagle's algorithm against the
        # client's delayed ACK (the listening socket must say it is TCP for asyncio to turn
        # Nagle off): ten requests on one connection take far less than 10 x 40 ms.
        started = time.perf_counter()
        for _ in range(10):
            assert client.get("/healthz").status_code == 200
        assert time.perf_counter() - started < 0.3

        def chunks() -> Iterator[bytes]:  # sent with Transfer-Encoding: chunked
            for _ in range(40):
                yield b" " * 10

        chunked = client.post("/v1/sentiment", content=chunks(), headers=keyed)
        assert chunked.request.headers["transfer-encoding"] == "chunked"
        assert chunked.status_code == 413
        assert chunked.json()["error"]["code"] == "PayloadTooLarge"

    log = server.log()
    for line in (
        "INFO seqlab.serve: GET /healthz 200 ",
        "INFO seqlab.serve: GET /v1/models 401 ",
        "INFO seqlab.serve: GET /v1/models 200 ",
        "INFO seqlab.serve: POST /v1/sentiment 200 ",
        "INFO seqlab.serve: POST /v1/sentiment 413 ",
    ):
        assert line in log, log
    assert KEY not in log  # the key is never logged


def queue_depth(client: httpx.Client, model: str) -> float:
    text = client.get("/metrics").text
    match = re.search(rf'^seqlab_queue_depth\{{model="{re.escape(model)}"\}} (\S+)$', text, re.M)
    return float(match.group(1)) if match else 0.0


def test_sigterm_lets_the_request_in_flight_finish_then_exits_0(
    sentiment_lstm_dir: Path, tmp_path: Path
) -> None:
    text = "the acting was awful"
    # A lone request waits --max-wait-ms for company: 2.5 s in flight, honestly.
    with (
        running_server(
            tmp_path, f"reviews={sentiment_lstm_dir}", "--max-wait-ms", "2500"
        ) as server,
        ThreadPoolExecutor(max_workers=1) as sender,
        httpx.Client(base_url=server.url, timeout=30) as probe,
    ):
        in_flight = sender.submit(
            httpx.post,
            f"{server.url}/v1/sentiment",
            json={"documents": [{"id": "7", "text": text}]},
            timeout=30,
        )
        deadline = time.monotonic() + 20
        while queue_depth(probe, "reviews/predict") != 1:
            assert time.monotonic() < deadline, "the request never reached the batcher"
            time.sleep(0.02)
        probe.close()  # its idle connection would be closed by the shutdown anyway
        server.process.send_signal(signal.SIGTERM)

        # The listener closes at once: new connections are refused while the request finishes.
        refused_while_in_flight = None
        while time.monotonic() < deadline:
            try:
                httpx.get(f"{server.url}/healthz", timeout=1)
            except httpx.ConnectError:
                refused_while_in_flight = not in_flight.done()
                break
            except httpx.TransportError:
                pass  # accepted just before the listener closed, then closed by the shutdown
            time.sleep(0.02)
        assert refused_while_in_flight is True

        response = in_flight.result(timeout=30)
        assert response.status_code == 200
        document = response.json()["documents"][0]
        assert document["id"] == "7"
        assert {k: document[k] for k in ("sentiment", "confidenceScores")} == sentiment_scores(
            sentiment_lstm_dir, text
        )
        assert server.process.wait(timeout=30) == 0
    log = server.log()
    assert "INFO seqlab.serve: POST /v1/sentiment 200 " in log
    assert log.rstrip().endswith("seqlab serve: stopped (SIGTERM)")
