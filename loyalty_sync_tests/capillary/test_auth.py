"""Credentials: header forms, token refresh timing, and secrets kept out of printed forms."""

from __future__ import annotations

import base64
import hashlib
import threading

from loyalty_sync.capillary.auth import (
    OAUTH_TOKEN_HEADER,
    BasicAuthenticator,
    Credentials,
    OAuthAuthenticator,
    Redactor,
    basic_header_value,
)


def test_basic_header_is_base64_of_user_and_md5_of_password() -> None:
    value = basic_header_value("till.user", "s3cret-pass")
    digest = hashlib.md5(b"s3cret-pass").hexdigest()
    assert value == "Basic " + base64.b64encode(f"till.user:{digest}".encode()).decode()


def test_basic_authenticator_registers_every_secret_form() -> None:
    redactor = Redactor()
    auth = BasicAuthenticator("till.user", "s3cret-pass", redactor)
    header = auth.headers()["Authorization"]
    digest = hashlib.md5(b"s3cret-pass").hexdigest()
    text = f"pw s3cret-pass md5 {digest} header {header}"
    scrubbed = redactor.scrub(text)
    assert "s3cret-pass" not in scrubbed and digest not in scrubbed
    assert header.removeprefix("Basic ") not in scrubbed
    assert repr(auth) == "BasicAuthenticator()"


def test_credentials_prefer_oauth_and_hide_secrets() -> None:
    both = Credentials("user", "password1", "key1", "secret1")
    assert both.kind == "oauth" and both.principal == "key1"
    basic = Credentials("user", "password1")
    assert basic.kind == "basic" and basic.principal == "user"
    assert Credentials().kind == "none"
    for creds in (both, basic):
        for text in (repr(creds), str(creds)):
            assert "password1" not in text and "secret1" not in text


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_oauth_token_is_reused_then_refreshed_before_expiry() -> None:
    clock = FakeClock()
    issued: list[str] = []

    def fetch(key: str, secret: str) -> tuple[str, float]:
        assert (key, secret) == ("key1", "secret1")
        issued.append(f"token-{len(issued)}")
        return issued[-1], 100.0

    redactor = Redactor()
    auth = OAuthAuthenticator("key1", "secret1", fetch, redactor, clock=clock)
    assert auth.headers() == {OAUTH_TOKEN_HEADER: "token-0"}
    clock.now += 85  # inside the lifetime, outside the refresh margin (10 s)
    assert auth.headers()[OAUTH_TOKEN_HEADER] == "token-0"
    clock.now += 6  # within 10 s of expiry: renew early
    assert auth.headers()[OAUTH_TOKEN_HEADER] == "token-1"
    assert redactor.scrub("token-1 and secret1") == "*** and ***"


def test_invalidate_drops_only_the_stale_token() -> None:
    tokens = iter(["first", "second", "third"])
    auth = OAuthAuthenticator("k", "s", lambda k, s: (next(tokens), 3600.0), Redactor())
    stale = auth.headers()
    auth.invalidate(stale)
    fresh = auth.headers()
    assert fresh[OAUTH_TOKEN_HEADER] == "second"
    auth.invalidate(stale)  # a late thread reporting the old token must not drop the new one
    assert auth.headers() == fresh


def test_one_fetch_for_many_threads() -> None:
    calls: list[int] = []
    gate = threading.Barrier(8)

    def fetch(key: str, secret: str) -> tuple[str, float]:
        calls.append(1)
        return "shared", 3600.0

    auth = OAuthAuthenticator("k", "s", fetch, Redactor())
    seen: list[str] = []

    def worker() -> None:
        gate.wait()
        seen.append(auth.headers()[OAUTH_TOKEN_HEADER])

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1 and seen == ["shared"] * 8
