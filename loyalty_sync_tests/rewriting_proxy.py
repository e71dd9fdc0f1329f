"""A small HTTP proxy on 127.0.0.1 that answers as its upstream does, or rewritten.

It stands between a sync and the simulator to answer the way a broken or changed API
would: a documented section missing, fields null, lists emptied. The rewrite can be
switched while the proxy runs, so one warehouse sees good answers, then wrong ones, then
good ones again.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

Rewrite = Callable[[str, Any], Any]  # (request path, decoded body) -> body to send
_HOP_HEADERS = {"connection", "content-length", "transfer-encoding", "content-encoding"}


class RewritingProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.rewrites: dict[str, Rewrite] = {}  # path fragment -> rewrite
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
                self.send_response(answer.status_code)
                for key, value in answer.headers.items():
                    if key.lower() not in _HOP_HEADERS:
                        self.send_header(key, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = _forward  # noqa: N815 (http.server's naming)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _rewritten(self, path: str, answer: httpx.Response) -> bytes:
        rewrite = next((r for fragment, r in self.rewrites.items() if fragment in path), None)
        if rewrite is None or not answer.is_success:
            return answer.content
        return json.dumps(rewrite(path, answer.json())).encode()

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
