"""API keys: created and revoked in the store, checked on every request.

A key reads ``ek_<key_id>_<secret>``: ``key_id`` (16 hex characters) names the row of table
``api_keys``; ``secret`` is 256 random bits (``secrets.token_urlsafe(32)``) that only the key's
holder sees, once, when it is created. The store keeps ``sha256(secret)`` and a check compares
digests with :func:`hmac.compare_digest` (constant time).

Why a plain sha256 and not a slow password KDF (scrypt, argon2): a KDF makes each guess expensive
so that a *low-entropy* secret (a human password) survives a stolen hash table. These secrets are
256 uniformly random bits: finding one from its hash takes about 2**256 hash evaluations, beyond
any slowdown a KDF could add. A fast hash also keeps the check in microseconds on every request.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass

import polars as pl

from earnest.core import schemas
from earnest.core.errors import EarnestError, NotFoundError
from earnest.store.base import Store

_PREFIX = "ek_"


class AuthError(EarnestError):
    """A request's API key is missing, malformed, unknown or revoked."""

    exit_code = 8


@dataclass(frozen=True)
class ApiKey:
    """A stored key (never its secret): ``rate_limit`` requests per second, None for the default."""

    key_id: str
    name: str
    hash: str
    rate_limit: float | None


def hash_secret(secret: str) -> str:
    """The hex sha256 of a key's secret (what the store keeps)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def split_key(token: str) -> tuple[str, str]:
    """(key_id, secret) of a key ``ek_<key_id>_<secret>``; :class:`AuthError` when malformed."""
    if not token.startswith(_PREFIX) or token.count("_") < 2:
        raise AuthError("malformed API key", remedy="send the key `earnest apikey create` printed")
    key_id, _, secret = token[len(_PREFIX) :].partition("_")
    if len(key_id) != 16 or not secret:
        raise AuthError("malformed API key", remedy="send the key `earnest apikey create` printed")
    return key_id, secret


def apikey_create(store: Store, *, name: str, rate_limit: float | None = None) -> tuple[str, str]:
    """Create a key named ``name`` (optional ``rate_limit`` in requests per second); returns
    (key_id, key). The key is shown only here: the store keeps its hash."""
    if rate_limit is not None and rate_limit <= 0:
        raise EarnestError(f"rate_limit must be > 0, got {rate_limit}", field="rate_limit")
    key_id = secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    row = {
        "key_id": key_id,
        "name": name,
        "hash": hash_secret(secret),
        "created_at": dt.datetime.now(dt.UTC),
        "revoked_at": None,
        "rate_limit": rate_limit,
    }
    store.upsert("api_keys", pl.DataFrame([row], schema=schemas.API_KEYS))
    return key_id, f"{_PREFIX}{key_id}_{secret}"


def apikey_revoke(store: Store, key_id: str) -> bool:
    """Revoke key ``key_id`` (True; False when it was already revoked). :class:`NotFoundError` when
    no such key exists. A running service stops accepting it at its next key refresh."""
    rows = store.read("api_keys", where={"key_id": key_id})
    if rows.is_empty():
        raise NotFoundError(
            f"no API key {key_id!r}", remedy="use the key id `earnest apikey create` printed", field="key_id"
        )
    if rows.item(0, "revoked_at") is not None:
        return False
    store.upsert("api_keys", rows.with_columns(pl.lit(dt.datetime.now(dt.UTC)).alias("revoked_at")))
    return True


def active_keys(store: Store) -> dict[str, ApiKey]:
    """The unrevoked keys by key_id."""
    rows = store.read("api_keys", where={"revoked_at": None})
    return {
        r["key_id"]: ApiKey(r["key_id"], r["name"], r["hash"], r["rate_limit"])
        for r in rows.iter_rows(named=True)
    }


class KeyRing:
    """The active keys, reloaded from the store every ``refresh_s`` seconds (by :meth:`refresh`,
    which the service's watcher calls), so a revocation takes effect within that delay."""

    def __init__(self, store: Store, *, refresh_s: float = 5.0) -> None:
        self.store = store
        self.refresh_s = refresh_s
        self._keys: dict[str, ApiKey] = {}
        self._loaded_at = -1e18
        self._lock = threading.Lock()

    def refresh(self, *, force: bool = False) -> None:
        with self._lock:
            if force or time.monotonic() - self._loaded_at >= self.refresh_s:
                self._keys = active_keys(self.store)
                self._loaded_at = time.monotonic()

    def check(self, token: str | None) -> ApiKey:
        """The key ``token`` is, or :class:`AuthError`."""
        if not token:
            raise AuthError("missing API key", remedy="send it in the X-API-Key header")
        key_id, secret = split_key(token)
        key = self._keys.get(key_id)
        if key is None or not hmac.compare_digest(key.hash, hash_secret(secret)):
            raise AuthError("invalid or revoked API key", remedy="create one with `earnest apikey create`")
        return key


__all__ = [
    "ApiKey",
    "AuthError",
    "KeyRing",
    "active_keys",
    "apikey_create",
    "apikey_revoke",
    "hash_secret",
    "split_key",
]
