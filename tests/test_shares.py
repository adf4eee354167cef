"""The share registry (tailcast/shares.py): tokens, expiry, revocation, the file in the data dir."""

from __future__ import annotations

import json
from pathlib import Path

from tailcast.shares import FILE_NAME, OWNER, Principal, ShareStore


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_token_finds_its_share_until_it_expires() -> None:
    clock = Clock()
    store = ShareStore(None, clock)
    share, token = store.create(["app", "app", "db"], 60)
    assert share.streams == ("app", "db")
    assert store.find(token) == share
    assert store.find(token + "x") is None and store.find("") is None
    assert share.principal == Principal(share.id, frozenset({"app", "db"}))
    assert share.principal.sees("db") and not share.principal.sees("other")
    assert OWNER.is_owner and OWNER.sees("anything")
    clock.now += 59.9
    assert store.live(share.id)
    clock.now += 0.2
    assert store.find(token) is None and not store.live(share.id)
    assert store.list() == []
    assert store.prune() == [share.id]


def test_revoke_ends_a_share_and_only_that_one() -> None:
    store = ShareStore(None, Clock())
    a, token_a = store.create(["app"], 60)
    b, token_b = store.create(["app"], 60)
    assert token_a != token_b and a.id != b.id
    assert store.revoke(a.id) is True
    assert store.revoke(a.id) is False
    assert store.find(token_a) is None and store.find(token_b) == b
    assert [s.id for s in store.list()] == [b.id]


def test_the_file_holds_hashes_and_is_read_back(tmp_path: Path) -> None:
    clock = Clock()
    store = ShareStore(tmp_path, clock)
    share, token = store.create(["app"], 60)
    expired, _ = store.create(["app"], 1)
    text = (tmp_path / FILE_NAME).read_text()
    assert token not in text and share.digest in text
    assert not list(tmp_path.glob(".*.tmp"))  # the temporary file was renamed
    clock.now += 5
    again = ShareStore(tmp_path, clock)
    assert again.find(token) == share
    assert again.get(expired.id) is None
    assert expired.id not in (tmp_path / FILE_NAME).read_text()  # pruned at load


def test_a_damaged_file_means_no_shares_not_any_share(tmp_path: Path) -> None:
    for damage in ("{not json", json.dumps({"shares": [{"id": "x"}]}), "[]"):
        (tmp_path / FILE_NAME).write_text(damage)
        store = ShareStore(tmp_path)
        assert store.list() == []
        assert (tmp_path / (FILE_NAME + ".damaged")).read_text() == damage
        share, token = store.create(["app"], 60)  # and it works on from there
        assert ShareStore(tmp_path).find(token) == share
        (tmp_path / FILE_NAME).unlink()
