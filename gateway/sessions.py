"""Browser sessions at the HTTP edge: which cookies carry them and how state changes are protected
against cross-site requests. The sessions themselves (rotation, reuse detection, ending them) are
the auth service's (services/auth/sessions.py); the gateway only moves their tokens in and out of
cookies, so no script on the page can read a token.

Cookies (names get the `__Host-` / `__Secure-` prefix, and the `Secure` flag, over https):

    shop_session   the access token (15 minutes), HttpOnly, SameSite=Lax, Path=/
    shop_renewal   the renewal token (14 idle days), HttpOnly, SameSite=Strict, sent only to
                   /api/auth/session (renew, sign out, sign in again)
    shop_guest     a guest's cart id (30 days), HttpOnly, SameSite=Lax, Path=/

CSRF: a request authenticated by the session cookie that changes state (not GET/HEAD/OPTIONS) must
(1) come from this origin: `Sec-Fetch-Site`, when the browser sends it, is `same-origin`, and
`Origin`, when sent, names this host; and (2) carry `X-CSRF-Token` equal to the session's token,
which is a claim of the signed access token (so checking it needs no lookup) and which the page
gets only in the JSON answers of /api/auth/session (a cross-site page cannot read them). SameSite
keeps the cookies off most cross-site requests to begin with. Bearer requests are not affected:
a browser never adds an Authorization header by itself.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

import jwt
from aiohttp import web

from gateway.errors import ApiError

SESSION_COOKIE = "shop_session"
RENEWAL_COOKIE = "shop_renewal"
GUEST_COOKIE = "shop_guest"
CSRF_HEADER = "X-CSRF-Token"
RENEWAL_PATH = "/api/auth/session"
GUEST_TTL_SECONDS = 30 * 24 * 3600
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CROSS_SITE = "Cross-site request refused"
CSRF_MISSING = f"Missing or wrong {CSRF_HEADER} header"

SecureMode = Literal["auto", "always", "never"]


@dataclass(frozen=True)
class CookiePolicy:
    """`secure`: auto marks cookies Secure (with the name prefixes) when the request came over https,
    directly or, behind `forwarded_hops` trusted proxies, as their `X-Forwarded-Proto` says."""

    secure: SecureMode = "auto"
    forwarded_hops: int = 0

    def is_secure(self, request: web.Request) -> bool:
        if self.secure != "auto":
            return self.secure == "always"
        if request.secure:
            return True
        if self.forwarded_hops:
            proto = request.headers.get("X-Forwarded-Proto", "").split(",")[-1].strip().lower()
            return proto == "https"
        return False

    def name(self, request: web.Request, base: str) -> str:
        if not self.is_secure(request):
            return base
        return ("__Secure-" if base == RENEWAL_COOKIE else "__Host-") + base

    def read(self, request: web.Request, base: str) -> str | None:
        value = request.cookies.get(self.name(request, base), "").strip()
        return value or None

    def set(
        self, response: web.StreamResponse, request: web.Request, base: str, value: str, max_age: int
    ) -> None:
        renewal = base == RENEWAL_COOKIE
        response.set_cookie(
            self.name(request, base),
            value,
            max_age=max(0, max_age),
            path=RENEWAL_PATH if renewal else "/",
            secure=self.is_secure(request),
            httponly=True,
            samesite="Strict" if renewal else "Lax",
        )

    def clear(self, response: web.StreamResponse, request: web.Request, base: str) -> None:
        # Same name, path and flags with Max-Age 0: browsers drop a cookie only when these match.
        self.set(response, request, base, "", 0)


POLICY = web.AppKey("cookie_policy", CookiePolicy)


def policy_of(request: web.Request) -> CookiePolicy:
    return request.app.get(POLICY) or CookiePolicy()


def seconds_until(epoch_seconds: int) -> int:
    return int(epoch_seconds - time.time())


def _host(request: web.Request, policy: CookiePolicy) -> str:
    if policy.forwarded_hops:
        forwarded = request.headers.get("X-Forwarded-Host", "").split(",")[-1].strip()
        if forwarded:
            return forwarded.lower()
    return request.host.lower()


def require_same_origin(request: web.Request) -> None:
    """403 for a state change a browser says comes from another site or origin."""
    if request.method in SAFE_METHODS:
        return
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in ("same-origin", "none"):
        raise ApiError(403, CROSS_SITE)
    origin = request.headers.get("Origin")
    if origin is not None and urlsplit(origin).netloc.lower() != _host(request, policy_of(request)):
        raise ApiError(403, CROSS_SITE)


def claims_of(token: str) -> dict[str, object]:
    """The claims of a token the auth service has just verified (so its signature is not checked
    again here: these are the same bytes)."""
    claims: dict[str, object] = jwt.decode(token, options={"verify_signature": False})
    return claims


def require_csrf(request: web.Request, token: str) -> None:
    """The CSRF checks of a state change authenticated by the session cookie."""
    if request.method in SAFE_METHODS:
        return
    require_same_origin(request)
    expected = claims_of(token).get("csrf")
    given = request.headers.get(CSRF_HEADER, "")
    if (
        not isinstance(expected, str)
        or not expected
        or not hmac.compare_digest(given.encode(), expected.encode())
    ):
        raise ApiError(403, CSRF_MISSING)


def session_token(request: web.Request) -> str | None:
    """The access token of the request's session cookie, if any."""
    return policy_of(request).read(request, SESSION_COOKIE)
