"""The bench's load client: N keep-alive HTTP/1.1 connections on asyncio, each sending its request again
as soon as the answer is in, for a fixed time; each answer's send and receive time, status and (for the
scoring service) model version. A connection refused or dropped is counted as a failed request and
opened again after 50 ms, so that the client rides through a server's restart."""

from __future__ import annotations

import asyncio
import json
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field

import numpy as np

VERSION = re.compile(rb'"model_version":(\d+),"model_sha256"')


@dataclass
class Load:
    seconds: float
    answers: list[tuple[float, float, int, int | None]] = field(
        default_factory=list
    )  # sent, got, status, version

    def ok(self) -> list[tuple[float, float, int, int | None]]:
        return [answer for answer in self.answers if answer[2] == 200]

    @property
    def failed(self) -> int:
        return len(self.answers) - len(self.ok())

    @property
    def throughput(self) -> float:
        return len(self.ok()) / self.seconds

    def latency_ms(self, quantile: float) -> float:
        times = [got - sent for sent, got, _, _ in self.ok()]
        return float(np.quantile(times, quantile)) * 1000 if times else float("nan")

    @property
    def p50(self) -> float:
        return self.latency_ms(0.5)

    @property
    def p99(self) -> float:
        return self.latency_ms(0.99)


def request_bytes(path: str, body: dict | None, raw: bytes | None, headers: dict) -> bytes:
    """A POST of ``body`` as JSON, or of ``raw`` as CSV."""
    content, kind = (json.dumps(body).encode(), "application/json") if raw is None else (raw, "text/csv")
    lines = [
        f"POST {path} HTTP/1.1",
        "Host: 127.0.0.1",
        f"Content-Type: {kind}",
        f"Content-Length: {len(content)}",
    ]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + content


async def _answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    return status, await reader.readexactly(int(length.group(1)) if length else 0)


async def _client(port: int, request: bytes, deadline: float, load: Load) -> None:
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            load.answers.append((time.monotonic(), time.monotonic(), 0, None))
            await asyncio.sleep(0.05)  # as a client that retries would, 20 times a second
            continue
        try:
            while time.monotonic() < deadline:
                sent = time.monotonic()
                writer.write(request)
                status, body = await _answer(reader)
                version = VERSION.search(body)
                load.answers.append((sent, time.monotonic(), status, version and int(version.group(1))))
        except (OSError, asyncio.IncompleteReadError, ValueError):
            load.answers.append((sent, time.monotonic(), 0, None))
        finally:
            writer.close()


def run_load(port: int, request: bytes, clients: int, seconds: float) -> Load:
    """``clients`` connections sending ``request`` for ``seconds``."""

    async def all_clients() -> Load:
        load = Load(seconds)
        deadline = time.monotonic() + seconds
        await asyncio.gather(*(_client(port, request, deadline, load) for _ in range(clients)))
        return load

    return asyncio.run(all_clients())


def health_status(port: int, path: str = "/health") -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None
