"""Who may use the web: roles, passwords, sessions, and the middleware that checks them.

Every handler states who may call it: `@public`, or `@requires(Role.AGENT)` and up
(agent < supervisor < admin). A handler with no such mark is admin-only, so a route
added without thought is closed, not open. People log in at /login with a password
(scrypt-hashed in the state folder) and get a session cookie (HttpOnly, SameSite=Strict)
that expires after a while idle and at a fixed age; sessions live in the database, so a
controller restart keeps people logged in and a logout ends the session everywhere.
Programs use `Authorization: Bearer <api_token>` (admin).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import os
import secrets
import time
from collections import defaultdict, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import yaml
from aiohttp import web
from aiohttp.web_urldispatcher import StaticResource

from hotline.config import RateLimitConfig
from hotline.store.sessions import SessionStore
from hotline.web.ratelimit import RateLimiter
from hotline.yamlsource import load_yaml

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
H = TypeVar("H", bound=Callable[..., Any])

COOKIE = "hotline_session"
STATIC_DIR = Path(__file__).with_name("static")


class Role(StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


_RANK = {Role.AGENT: 1, Role.SUPERVISOR: 2, Role.ADMIN: 3}
_PUBLIC = "public"
_MARK = "hotline_access"


@dataclass(frozen=True)
class User:
    id: str
    name: str
    role: Role
    #: The routing agent this user is (agents only).
    agent_id: str | None = None

    def can(self, role: Role) -> bool:
        return _RANK[self.role] >= _RANK[role]


API_USER = User(id="api", name="API token", role=Role.ADMIN)

USER_KEY = web.RequestKey("user", User)


def requires(role: Role) -> Callable[[H], H]:
    """Mark a handler as open to `role` and every role above it."""

    def mark(handler: H) -> H:
        setattr(handler, _MARK, Role(role))
        return handler

    return mark


def public(handler: H) -> H:
    """Mark a handler as open to anyone (it checks what it needs itself)."""
    setattr(handler, _MARK, _PUBLIC)
    return handler


def current_user(request: web.Request) -> User:
    """The authenticated user of a request to a non-public handler."""
    return request[USER_KEY]


def optional_user(request: web.Request) -> User | None:
    """The logged-in user of a request to a public handler, if any."""
    return request.get(USER_KEY)


# passwords

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}


def hash_password(password: str, cost: int = _SCRYPT["n"]) -> str:
    """`password`'s scrypt hash, its parameters in it; `cost` is scrypt's N (a power of
    two: time and memory grow with it; ~60 ms here at the default)."""
    salt = os.urandom(16)
    scrypt = {**_SCRYPT, "n": cost}
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **scrypt)
    params = "{n}:{r}:{p}".format(**scrypt)
    return f"scrypt${params}${_b64(salt)}${_b64(digest)}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, params, salt, digest = stored.split("$")
        n, r, p = (int(x) for x in params.split(":"))
        if scheme != "scrypt":
            return False
        given = hashlib.scrypt(
            password.encode(), salt=_unb64(salt), dklen=len(_unb64(digest)), n=n, r=r, p=p
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(given, _unb64(digest))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class PasswordFile:
    """Password hashes by user id, in a YAML file only the owner can read."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, str]:
        if not self.path.exists():
            return {}
        data, _ = load_yaml(self.path)
        data = data or {}
        if not isinstance(data, dict):
            raise ValueError(f"{self.path.name}: expected a mapping of user id to hash")
        return {str(k): str(v) for k, v in data.items()}

    def save(self, hashes: dict[str, str]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            yaml.safe_dump(hashes, out, sort_keys=True)
        tmp.replace(self.path)

    def set(self, user_id: str, password: str) -> None:
        hashes = self.load()
        hashes[user_id] = hash_password(password)
        self.save(hashes)

    def ensure(self, user_ids: Iterable[str]) -> dict[str, str]:
        """Give every user without a password a generated one; returns those new ones."""
        hashes = self.load()
        new = {u: secrets.token_urlsafe(12) for u in user_ids if u not in hashes}
        if new:
            hashes.update({u: hash_password(p) for u, p in new.items()})
            self.save(hashes)
        return new


# sessions


@dataclass
class _Cached:
    user: User
    expires_at: float
    seen_at: float
    saved_seen_at: float


class Sessions:
    """Login sessions: created at login, ended by logout, idle time or age."""

    def __init__(
        self,
        store: SessionStore,
        users: dict[str, User],
        idle: timedelta = timedelta(hours=1),
        max_age: timedelta = timedelta(hours=12),
    ) -> None:
        self._store = store
        self._users = users
        self.idle = idle
        self.max_age = max_age
        self._cache: dict[str, _Cached] = {}
        #: Sessions ended lately (digest -> when): a resolve that read the row before
        #: its delete must not cache it once the end is done.
        self._ended: dict[str, float] = {}

    async def create(self, user: User) -> str:
        token = secrets.token_urlsafe(32)
        await self._store.create(_digest(token), user.id, self.max_age)
        return token

    async def resolve(self, token: str) -> User | None:
        """The user of a live session (refreshing its idle timer), or None."""
        if not token or len(token) > 100:
            return None
        key, now = _digest(token), time.time()
        cached = self._cache.get(key)
        if cached is None:
            row = await self._store.get(key)
            user = self._users.get(row.user_id) if row else None
            if row is None or user is None or key in self._ended:
                return None
            seen = row.last_seen.timestamp()
            cached = _Cached(user, row.expires_at.timestamp(), seen, seen)
            self._cache[key] = cached
        if now >= cached.expires_at or now - cached.seen_at >= self.idle.total_seconds():
            await self.end(token)
            return None
        cached.seen_at = now
        # Touch the row at most once a minute: sessions outlive restarts without a
        # database write per request.
        if now - cached.saved_seen_at >= 60:
            cached.saved_seen_at = now
            await self._store.touch(key)
        return cached.user

    async def end(self, token: str) -> None:
        key, now = _digest(token), time.time()
        # A resolve reading the row while it is deleted would cache it after this end
        # (the ended session living on in this process until idle): it finds the key
        # here. Kept a minute: far longer than one read of the row.
        self._ended = {k: at for k, at in self._ended.items() if now - at < 60}
        self._ended[key] = now
        self._cache.pop(key, None)
        await self._store.delete(key)
        self._cache.pop(key, None)


def _digest(token: str) -> str:
    # Only a hash of the token is stored: a copy of the database lets no one log in.
    return hashlib.sha256(token.encode()).hexdigest()


class LoginThrottle:
    """At most `limit` failed logins per user name and per address within `window` s."""

    def __init__(self, limit: int = 5, window: float = 300.0) -> None:
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = defaultdict(deque)

    def blocked(self, *keys: str) -> bool:
        now = time.monotonic()
        for key in keys:
            times = self._failures.get(key)
            while times and now - times[0] > self.window:
                times.popleft()
            if times is not None and len(times) >= self.limit:
                return True
        return False

    def failed(self, *keys: str) -> None:
        now = time.monotonic()
        for key in keys:
            self._failures[key].append(now)

    def succeeded(self, user_id: str) -> None:
        self._failures.pop(user_id, None)


class Auth:
    """The users, their passwords and sessions, and the access middleware."""

    def __init__(
        self,
        users: Iterable[User],
        passwords: PasswordFile,
        sessions: Sessions,
        api_token: str,
        secure_cookie: bool = False,
    ) -> None:
        self.users = {u.id: u for u in users}
        self.passwords = passwords
        self.sessions = sessions
        self.api_token = api_token
        self.secure_cookie = secure_cookie
        self.throttle = LoginThrottle()

    async def user_of(self, request: web.Request) -> User | None:
        header = request.headers.get("Authorization", "")
        if header.startswith("Bearer "):
            given = header.removeprefix("Bearer ").strip()
            if given and hmac.compare_digest(given.encode(), self.api_token.encode()):
                return API_USER
            return None
        return await self.sessions.resolve(request.cookies.get(COOKIE, ""))

    async def login(self, user_id: str, password: str, address: str) -> User | None:
        """The user if the password is right; raises `TooManyAttempts` when throttled."""
        keys = (f"user:{user_id}", f"addr:{address}")
        if self.throttle.blocked(*keys):
            raise TooManyAttempts("too many failed logins; wait a few minutes and try again")
        user = self.users.get(user_id)
        stored = self.passwords.load().get(user_id) if user else None
        # Hash even for unknown users so timing does not tell which names exist.
        ok = verify_password(password, stored or _DUMMY_HASH) and stored is not None
        if not ok or user is None:
            self.throttle.failed(*keys)
            log.info("auth.login_failed user=%r from %s", user_id[:64], address)
            return None
        self.throttle.succeeded(f"user:{user_id}")
        log.info("auth.login user=%s role=%s from %s", user.id, user.role, address)
        return user

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        info = request.match_info
        if info.http_exception is not None:  # 404 / 405: let aiohttp answer
            return await handler(request)
        access = _access(request)
        user = await self.user_of(request)
        if user is not None:
            request[USER_KEY] = user
        if access is None:
            return await handler(request)
        if user is None:
            if _wants_html(request):
                raise web.HTTPFound("/login?next=" + quote(request.path_qs, safe="/"))
            return error(401, "authentication required: log in at /login or send a bearer token")
        if not user.can(access):
            return error(403, f"this needs the {access} role; you are {user.role}")
        unsafe = request.method not in ("GET", "HEAD", "OPTIONS")
        if unsafe and user is not API_USER and not _same_origin(request):
            return error(403, "cross-site request refused")
        return await handler(request)


class TooManyAttempts(Exception):
    pass


AUTH_KEY = web.AppKey("auth", Auth)


_DUMMY_HASH = hash_password(secrets.token_urlsafe(12))


def _access(request: web.Request) -> Role | None:
    """The role the route needs; None for a public one."""
    route = request.match_info.route
    if isinstance(route.resource, StaticResource):
        return None
    mark = getattr(route.handler, _MARK, Role.ADMIN)
    return None if mark == _PUBLIC else Role(mark)


def _wants_html(request: web.Request) -> bool:
    return (
        request.method == "GET"
        and not request.path.startswith("/api/")
        and "text/html" in request.headers.get("Accept", "")
        and request.headers.get("Upgrade", "").lower() != "websocket"
    )


def _same_origin(request: web.Request) -> bool:
    origin = request.headers.get("Origin")
    if origin is None:
        return True  # not a browser's cross-site request (browsers send Origin on POST)
    return origin in (f"{request.scheme}://{request.host}", f"http://{request.host}")


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


@web.middleware
async def security_headers(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        response = exc
    headers = response.headers
    headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data: blob:; connect-src 'self'; "
        "frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    )
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "same-origin")
    if isinstance(response, web.HTTPException):
        raise response
    return response


def build_web_app(
    auth: Auth, client_max_size: int = 64 * 1024, rate_limit: RateLimitConfig | None = None
) -> web.Application:
    """The one web application: security headers, request rate limits (when given and
    enabled), access checks, /static/, login."""
    middlewares: list[Any] = [security_headers, auth.middleware]
    if rate_limit is not None and rate_limit.enabled:
        limiter = RateLimiter(rate_limit, _user_id)
        middlewares = [security_headers, limiter.by_address, auth.middleware, limiter.by_user]
    app = web.Application(middlewares=middlewares, client_max_size=client_max_size)
    app[AUTH_KEY] = auth
    app.router.add_static("/static/", STATIC_DIR, follow_symlinks=False)
    add_auth_routes(app, auth)
    return app


def _user_id(request: web.Request) -> str | None:
    """Who the auth middleware found (for the per-user rate limit)."""
    user = request.get(USER_KEY)
    return user.id if user is not None else None


def add_auth_routes(app: web.Application, auth: Auth) -> None:
    @public
    async def login_page(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "login" / "login.html")

    @public
    async def login(request: web.Request) -> web.StreamResponse:
        if not _same_origin(request):
            return error(403, "cross-site request refused")
        try:
            body = await request.json()
        except (ValueError, RecursionError):  # RecursionError: JSON nested too deep
            return error(400, 'the body must be JSON: {"user": …, "password": …}')
        if not isinstance(body, dict):
            return error(400, "the body must be a JSON object")
        user_id, password = body.get("user"), body.get("password")
        if not isinstance(user_id, str) or not isinstance(password, str):
            return error(400, "user and password must be strings")
        if not user_id or len(user_id) > 64 or len(password) > 256:
            return error(400, "user must be 1-64 characters and password at most 256")
        try:
            user = await auth.login(user_id, password, request.remote or "?")
        except TooManyAttempts as exc:
            return error(429, str(exc))
        if user is None:
            return error(401, "wrong user name or password")
        token = await auth.sessions.create(user)
        response = web.json_response(
            {"id": user.id, "name": user.name, "role": user.role, "home": home_of(user)}
        )
        response.set_cookie(
            COOKIE,
            token,
            httponly=True,
            samesite="Strict",
            secure=auth.secure_cookie,
            path="/",
            max_age=int(auth.sessions.max_age.total_seconds()),
        )
        return response

    @public
    async def logout(request: web.Request) -> web.StreamResponse:
        if not _same_origin(request):
            return error(403, "cross-site request refused")
        token = request.cookies.get(COOKIE)
        if token:
            await auth.sessions.end(token)
        response = web.json_response({"ok": True})
        response.del_cookie(COOKIE, path="/")
        return response

    @requires(Role.AGENT)
    async def me(request: web.Request) -> web.Response:
        user = current_user(request)
        return web.json_response(
            {
                "id": user.id,
                "name": user.name,
                "role": user.role,
                "agent_id": user.agent_id,
                "home": home_of(user),
            }
        )

    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/api/me", me)


def home_of(user: User) -> str:
    """Where a user lands after logging in."""
    return "/desk" if user.role == Role.AGENT else "/wallboard"


def users_from(
    agents: Iterable[tuple[str, str]],
    others: Iterable[tuple[str, str, str]],
    *,
    supervising: Iterable[str] = (),
) -> list[User]:
    """Users from the config: (id, name) of agents and (id, name, role) of the rest.
    Agents named in `supervising` are supervisors who take contacts too (a desk, and
    the supervisor's rights: monitoring, taking chats over)."""
    leads = set(supervising)
    users = [
        User(id=i, name=n, role=Role.SUPERVISOR if i in leads else Role.AGENT, agent_id=i)
        for i, n in agents
    ]
    users += [User(id=i, name=n, role=Role(r)) for i, n, r in others]
    return users
