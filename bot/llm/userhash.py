"""The ``user`` field sent to the completions API: a stable, non-reversible user hash.

The API's ``user`` parameter helps the provider spot abuse per end user. Threadline never sends
a raw platform id: it sends ``HMAC-SHA256(salt, "<platform>\\0<user id>")`` in hex, cut to 32
characters (128 bits). The same user on the same platform always gets the same value; without
the salt (a secret: ``USER_HASH_SALT``, falling back to the API key) it cannot be reversed by
hashing candidate ids. The same id on two platforms hashes differently.
"""

from __future__ import annotations

import hashlib
import hmac

HASH_CHARS = 32


def user_hash(platform: str, user_id: str, salt: str) -> str:
    """32 hex characters identifying ``user_id`` on ``platform``; stable for a given salt."""
    message = f"{platform}\0{user_id}".encode()
    digest = hmac.new(salt.encode(), message, hashlib.sha256).hexdigest()
    return digest[:HASH_CHARS]
