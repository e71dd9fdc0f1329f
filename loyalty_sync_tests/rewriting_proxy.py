"""A small HTTP proxy on 127.0.0.1 that answers as its upstream does, or rewritten.

It stands between a sync and the simulator to answer the way a broken or changed API
would: a documented section missing, fields null, lists emptied, bytes that are not JSON
a parser can take, a wrong `Date` header. The rewrite can be switched while the proxy
runs, so one warehouse sees good answers, then wrong ones, then good ones again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

# (request path, decoded body) -> body to send, or raw bytes sent as they are
Rewrite = Callable[[str, Any], Any]
_HOP_HEADERS = {"connection", "content-length", "transfer-encoding", "content-encoding"}


class RewritingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.rewrites: dict[str, Rewrite] = {}  # path fragment -> rewrite
        self.headers: dict[str, str | None] = {}  # header -> value sent instead (None: none)
        self.served: dict[str, int] = {}  # path fragment of a rewrite -> answers rewritten
        self._client = httpx.Client(base_url=self.upstream, timeout=60)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                return

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = proxy._client.request(
                    self.command, self.path, headers=headers, content=body
                )
                content = proxy._rewritten(self.path, answer)
                # Only the upstream's headers: send_response would add a second Date.
                self.send_response_only(answer.status_code)
                replaced = {k.lower(): v for k, v in proxy.headers.items()}
                for key, value in answer.headers.items():
                    if key.lower() not in _HOP_HEADERS and key.lower() not in replaced:
                        self.send_header(key, value)
                for key, value in replaced.items():
                    if value is not None:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = _forward  # noqa: N815 (http.server's naming)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _rewritten(self, path: str, answer: httpx.Response) -> bytes:
        found = next(((f, r) for f, r in self.rewrites.items() if f in path), None)
        if found is None or not answer.is_success:
            return answer.content
        fragment, rewrite = found
        self.served[fragment] = self.served.get(fragment, 0) + 1
        body = rewrite(path, answer.json())
        return body if isinstance(body, bytes) else json.dumps(body).encode()

    @contextmanager
    def running(self) -> Iterator[RewritingProxy]:
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            self._client.close()


def each_object_with(key: str, change: Callable[[dict[str, Any]], None]) -> Rewrite:
    """A rewrite applying `change` to every object of the body that has `key`."""

    def rewrite(path: str, body: Any) -> Any:
        def walk(node: Any) -> None:
            if isinstance(node, dict):
                if key in node:
                    change(node)
                for value in list(node.values()):
                    walk(value)
            elif isinstance(node, list):
                for item in node:
                    walk(item)

        walk(body)
        return body

    return rewrite
