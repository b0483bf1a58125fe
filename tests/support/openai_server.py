"""A real OpenAI-compatible chat server on 127.0.0.1 that answers from a script.

Strict like llama.cpp's server: a message whose content is not a plain string is rejected
with 400. Stop sequences are honoured the way real servers do. Each script entry is a reply
text, an int HTTP status to answer once with an error (e.g. 429, 500), or a
threading.Event: the server holds that request until the event is set, then answers it
with the next entry (so a test can kill the client while a step is in flight).
Requests for the model named `worker` (e.g. `--worker-model openai/worker`) are answered
from `worker_script` (which may hold on an Event too), then `worker_default`, so the memory agent's calls
never consume the planner's script. `responder(payload)`, if given, answers any chat request first (a reply
text or an int status; None falls through to the scripts), so concurrent runs can be answered by their
content. POST /embeddings answers with bag-of-words vectors (hashed words), so texts that share words are
near each other, as with a real embedding model; after `embeddings_ok` of them (None: no limit) it answers 400,
as a provider does when a key runs out of quota.

Like llama.cpp: a request with `"stream": true` is answered as server-sent events (`data: {...}` chunks, one
token of four characters each, at `tokens_per_s` if set, usage in the last chunk, then `data: [DONE]`); the
server stops generating when the client closes the connection (`closed_at` holds when it noticed). A non-streamed
request at `tokens_per_s` is generated in full whether or not the client still waits (`generated` counts the
tokens). `drop_system` drops system messages the way gemma's chat template does (the model never sees them,
the prompt tokens count only the rest). `models_delay_s` makes GET /models answer that late while a chat
request is being answered (a busy single-slot server).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ChatServer:
    def __init__(self, script: list[Any] | None = None, default: str | None = None,
                 worker_script: list[Any] | None = None, worker_default: str = "nothing to add",
                 prompt_tokens: int | None = None, responder: Any = None, delay_s: float = 0.0,
                 tokens_per_s: float = 0.0, drop_system: bool = False, models_delay_s: float = 0.0,
                 accepts_parts: bool = False, embeddings_ok: int | None = None):
        self.embeddings_ok = embeddings_ok
        self.tokens_per_s = tokens_per_s
        self.drop_system = drop_system
        self.models_delay_s = models_delay_s
        self.closed_at: list[float] = []  # time.monotonic() when a streaming client's close was noticed
        self.generated = 0  # tokens generated, whether or not anyone read them
        self.seen: list[dict[str, Any]] = []  # {"model", "messages"}: what the "model" saw (after the template)
        self.delay_s = delay_s  # every chat answer waits this long (a slow model)
        self.in_flight = 0  # chat requests being answered now
        self.max_in_flight = 0  # the most at once
        self.chat_calls = 0  # chat requests received
        self.accepts_parts = accepts_parts  # list-of-parts content (text, image_url) as OpenAI's API takes it
        self.prompt_tokens = prompt_tokens  # report this instead of the prompt's size (a server that drops text)
        self.responder = responder
        self.script: list[Any] = list(script or [])
        self.default = default
        self.worker_script = list(worker_script or [])
        self.worker_default = worker_default
        self.requests: list[dict[str, Any]] = []
        self.rejected: list[str] = []
        self.held = 0  # requests that reached a hold point
        self.models_delayed = 0  # GET /models answered late because a chat request was in flight
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self) -> ChatServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add(self, *entries: Any) -> None:
        with self.lock:
            self.script.extend(entries)

    def _next(self) -> str | int:
        with self.lock:
            entry = self.script.pop(0) if self.script else None
        if isinstance(entry, threading.Event):
            self.held += 1
            entry.wait(timeout=120)
            return self._next()
        if entry is not None:
            return entry
        if self.default is not None:
            return self.default
        return 'Thought: nothing left.\n<code>\nfinal_answer("script exhausted")\n</code>'

    def _next_worker(self) -> str | int:
        with self.lock:
            entry = self.worker_script.pop(0) if self.worker_script else self.worker_default
        if isinstance(entry, threading.Event):
            self.held += 1
            entry.wait(timeout=120)
            return self._next_worker()
        return entry

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client was killed mid-request, as some tests intend

            def do_GET(self) -> None:  # noqa: N802 - the model list every OpenAI-compatible server answers
                if self.path.rstrip("/").endswith("/models"):
                    if server.models_delay_s and server.in_flight:
                        server.models_delayed += 1
                        time.sleep(server.models_delay_s)
                    self._send(200, {"object": "list", "data": [{"id": "test", "object": "model"}]})
                else:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})

            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                payload = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    server.requests.append(payload)
                if self.path.endswith("/embeddings"):
                    with server.lock:
                        refused = server.embeddings_ok is not None and server.embeddings_ok <= 0
                        if server.embeddings_ok is not None:
                            server.embeddings_ok -= 1
                    if refused:
                        self._send(400, {"error": {"message": "quota exceeded", "type": "invalid_request_error"}})
                        return
                    inputs = payload.get("input") or []
                    inputs = [inputs] if isinstance(inputs, str) else inputs
                    self._send(200, {"object": "list", "model": payload.get("model", "test"),
                                     "data": [{"object": "embedding", "index": i, "embedding": _bag_of_words(t)}
                                              for i, t in enumerate(inputs)],
                                     "usage": {"prompt_tokens": 1, "total_tokens": 1}})
                    return
                if not self.path.endswith("/chat/completions"):
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                for message in payload.get("messages", []):
                    content = message.get("content")
                    if server.accepts_parts and isinstance(content, list) and all(
                            isinstance(p, dict) and p.get("type") in ("text", "image_url") for p in content):
                        continue
                    if not isinstance(content, str):
                        server.rejected.append(repr(message.get("content"))[:200])
                        self._send(400, {"error": {"message": "content must be a string", "type": "invalid_request_error"}})
                        return
                with server.lock:
                    server.chat_calls += 1
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    self._chat(payload)
                finally:
                    with server.lock:
                        server.in_flight -= 1

            def _chat(self, payload: dict[str, Any]) -> None:
                if server.delay_s:
                    time.sleep(server.delay_s)
                entry = server.responder(payload) if server.responder else None
                if entry is not None:
                    pass
                elif payload.get("model") == "worker":
                    entry = server._next_worker()
                else:
                    entry = server._next()
                if isinstance(entry, int):
                    headers = {"Retry-After": "0"} if entry == 429 else {}
                    self._send(entry, {"error": {"message": f"scripted {entry}", "type": "server_error"}}, headers)
                    return
                messages = payload["messages"]
                if server.drop_system:
                    messages = [m for m in messages if m.get("role") != "system"]
                with server.lock:
                    server.seen.append({"model": payload.get("model"), "messages": messages})
                text = entry
                for stop in payload.get("stop") or []:
                    if stop and stop in text:
                        text = text[: text.index(stop)]
                prompt_tokens = sum(len(m["content"]) for m in messages) // 4
                if server.prompt_tokens is not None:
                    prompt_tokens = server.prompt_tokens
                completion_tokens = max(1, len(text) // 4)
                finish = "stop"
                cap = payload.get("max_tokens")
                if cap and completion_tokens > cap:
                    text, completion_tokens, finish = text[: cap * 4], cap, "length"
                usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                         "total_tokens": prompt_tokens + completion_tokens}
                if payload.get("stream"):
                    self._stream(payload, text, finish, usage)
                    return
                if server.tokens_per_s:  # generated in full, whoever still waits for it
                    for _ in range(completion_tokens):
                        time.sleep(1 / server.tokens_per_s)
                        with server.lock:
                            server.generated += 1
                self._send(200, {
                    "id": f"chatcmpl-{len(server.requests)}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": payload.get("model", "test"),
                    "choices": [{"index": 0, "finish_reason": finish,
                                 "message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                              "total_tokens": prompt_tokens + completion_tokens},
                })

            def _stream(self, payload: dict[str, Any], text: str, finish: str, usage: dict[str, Any]) -> None:
                base = {"id": f"chatcmpl-{len(server.requests)}", "object": "chat.completion.chunk",
                        "created": int(time.time()), "model": payload.get("model", "test")}
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Cache-Control", "no-cache")
                self.end_headers()
                pieces = [text[i:i + 4] for i in range(0, len(text), 4)] or [""]
                events = [{**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""},
                                                "finish_reason": None}]}]
                events += [{**base, "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]}
                           for p in pieces]
                events.append({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
                if (payload.get("stream_options") or {}).get("include_usage"):
                    events.append({**base, "choices": [], "usage": usage})
                try:
                    for i, event in enumerate(events):
                        if server.tokens_per_s and 0 < i <= len(pieces):
                            time.sleep(1 / server.tokens_per_s)
                            with server.lock:
                                server.generated += 1
                        self.wfile.write(b"data: " + json.dumps(event).encode() + b"\n\n")
                        self.wfile.flush()
                    self.wfile.write(b"data: [DONE]\n\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    with server.lock:
                        server.closed_at.append(time.monotonic())  # the client left: stop generating
                self.close_connection = True

        return Handler


def _bag_of_words(text: str, dim: int = 64) -> list[float]:
    import hashlib
    import re

    vector = [0.0] * dim
    for word in re.findall(r"[a-z0-9]+", text.lower()):
        vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % dim] += 1.0
    return vector
