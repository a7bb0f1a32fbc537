"""The ``user`` field: stable per user, different across users and platforms, not reversible."""

from __future__ import annotations

import hashlib

from bot.llm.userhash import HASH_CHARS, user_hash


def test_hash_is_stable_and_short_hex() -> None:
    first = user_hash("slack", "U123", "salt")
    assert first == user_hash("slack", "U123", "salt")
    assert len(first) == HASH_CHARS == 32
    int(first, 16)


def test_known_value_never_changes_between_releases() -> None:
    # Changing the scheme would silently give every user a new id at the provider.
    assert user_hash("slack", "U123", "salt") == "4649c6271fbb0cf8667eb3c6076467cd"


def test_hash_differs_by_user_platform_and_salt() -> None:
    values = {
        user_hash("slack", "U123", "salt"),
        user_hash("slack", "U124", "salt"),
        user_hash("discord", "U123", "salt"),
        user_hash("slack", "U123", "pepper"),
    }
    assert len(values) == 4


def test_platform_and_id_cannot_be_shifted_into_each_other() -> None:
    assert user_hash("slack", "1", "s") != user_hash("slack1", "", "s")
    assert user_hash("a:b", "c", "s") != user_hash("a", "b:c", "s")


def test_raw_id_and_plain_digests_do_not_appear() -> None:
    value = user_hash("discord", "123456789012345678", "secret-salt")
    assert "123456789012345678" not in value
    for plain in ("discord:123456789012345678", "123456789012345678"):
        assert not hashlib.sha256(plain.encode()).hexdigest().startswith(value)
        assert not hashlib.md5(plain.encode()).hexdigest().startswith(value)
