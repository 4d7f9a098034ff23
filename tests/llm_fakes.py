"""A fake LLM server on 127.0.0.1 speaking just enough Ollama and OpenAI HTTP for the real clients.

It runs ``http.server`` on its own thread, so the real langchain/httpx clients in the test's
event loop talk to it over real sockets. ``mode`` picks the behaviour:
"ok" streams ``tokens``; "hang" accepts the request and never answers; "drop" sends two tokens
and then cuts the connection; "error" answers the chat request with HTTP 500; "garbage" answers
200 with a stream that is not JSON.
"""

from __future__ import annotations

import json
import socket
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeLLMServer:
    models: list[str] = field(default_factory=lambda: ["gemma3:4b"])
    tokens: list[str] = field(default_factory=lambda: ["Hello", " there", "!", " Fractions", " are", " fun", "."])
    mode: str = "ok"
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._release = threading.Event()
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), name="fake-llm", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeLLMServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that hangs up early (the tests do it on purpose) is not an error here


def dead_url() -> str:
    """A URL on a port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def _handler_for(fake: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output quiet
            pass

        def do_GET(self) -> None:
            if fake.mode == "hang":
                fake._release.wait(30)
                return
            if self.path == "/api/tags":
                self._json({"models": [{"name": m, "model": m, "size": 1, "digest": "0"} for m in fake.models]})
            elif self.path == "/v1/models":
                models = [{"id": m, "object": "model", "created": 0, "owned_by": "fake"} for m in fake.models]
                self._json({"object": "list", "data": models})
            else:
                self._json({"error": "not found"}, status=404)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            fake.requests.append({"path": self.path, "body": body})
            if fake.mode == "hang":
                fake._release.wait(30)
                return
            if fake.mode == "error":
                self._json({"error": "model exploded"}, status=500)
                return
            if fake.mode == "garbage":
                self._stream("text/event-stream" if self.path.endswith("completions") else "application/x-ndjson",
                             ["data: {\"choices\": [<html>Bad Gateway</html>\n\n"])
            elif self.path == "/api/chat":
                self._stream("application/x-ndjson", [json.dumps(m) + "\n" for m in _ollama_lines(fake, body)])
            elif self.path == "/v1/chat/completions":
                chunks = [f"data: {json.dumps(m)}\n\n" for m in _openai_chunks(fake, body)]
                self._stream("text/event-stream", chunks + ["data: [DONE]\n\n"])
            else:
                self._json({"error": "not found"}, status=404)

        def _json(self, obj: object, status: int = 200) -> None:
            data = json.dumps(obj).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _stream(self, content_type: str, parts: list[str]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for i, part in enumerate(parts):
                if fake.mode == "drop" and i == 2:
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    self.close_connection = True
                    return
                data = part.encode()
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()

    return Handler


def _ollama_lines(fake: FakeLLMServer, body: dict[str, Any]) -> list[dict[str, Any]]:
    model = body.get("model", "")
    lines: list[dict[str, Any]] = [
        {"model": model, "created_at": "2026-01-01T00:00:00Z", "message": {"role": "assistant", "content": t},
         "done": False}
        for t in fake.tokens
    ]
    lines.append(
        {
            "model": model,
            "created_at": "2026-01-01T00:00:00Z",
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": 1,
            "load_duration": 1,
            "prompt_eval_count": 3,
            "prompt_eval_duration": 1,
            "eval_count": len(fake.tokens),
            "eval_duration": 1,
        }
    )
    return lines


def _openai_chunks(fake: FakeLLMServer, body: dict[str, Any]) -> list[dict[str, Any]]:
    def chunk(delta: dict[str, str], finish: str | None) -> dict[str, Any]:
        return {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 0,
            "model": body.get("model", ""),
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
        }

    return [chunk({"role": "assistant", "content": t}, None) for t in fake.tokens] + [chunk({}, "stop")]
