"""API keys: ``tryon_<prefix>_<secret>``; only a SHA-256 of the whole key is stored.

Keys carry 256 bits of randomness, so a plain SHA-256 (not a slow password hash) is the right tool:
nobody can guess their way to a preimage, and lookups stay cheap on every request.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from api.models import ApiKey, Role

ROLE_RANK = {Role.storefront: 0, Role.merchandiser: 1, Role.admin: 2}
KEY_PREFIX = "tryon"


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def generate_key() -> tuple[str, str]:
    """A new key and its lookup prefix."""
    prefix = secrets.token_hex(6)
    return f"{KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}", prefix


def split_prefix(key: str) -> str | None:
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != KEY_PREFIX or not parts[1]:
        return None
    return parts[1]


def key_matches(row: ApiKey, key: str) -> bool:
    return hmac.compare_digest(row.secret_hash, hash_key(key))


def role_allows(role: Role, needed: Role) -> bool:
    """Roles nest: admin can do all a merchandiser can, who can do all a storefront can."""
    return ROLE_RANK[Role(role)] >= ROLE_RANK[needed]


def new_api_key(name: str, role: Role) -> tuple[ApiKey, str]:
    """A key row to add and the secret to show once."""
    key, prefix = generate_key()
    row = ApiKey(name=name, role=role, prefix=prefix, secret_hash=hash_key(key), webhook_secret=secrets.token_hex(32))
    return row, key


def sign_webhook(secret: str, timestamp: int, body: bytes) -> str:
    """HMAC-SHA256 of ``"<timestamp>.<body>"``, hex; sent as ``Tryon-Signature: t=<ts>,v1=<hex>``."""
    message = str(timestamp).encode() + b"." + body
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
