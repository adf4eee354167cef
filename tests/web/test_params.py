"""Query-parameter parsing shared by the routes: values, bounds and the 400 texts."""

from __future__ import annotations

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from tailcast.protocol import wire
from tailcast.web.params import MAX_SEQ, bounded_int, natural, stream_ids


def request(query: str) -> web.Request:
    return make_mocked_request("GET", "/x?" + query)


def test_bounded_int() -> None:
    assert bounded_int(request(""), "limit", 1, 10) is None
    assert bounded_int(request("limit=1"), "limit", 1, 10) == 1
    assert bounded_int(request("limit=10"), "limit", 1, 10) == 10
    for bad in ("0", "11", "-1", "x", "1.5", ""):
        with pytest.raises(web.HTTPBadRequest) as info:
            bounded_int(request(f"limit={bad}"), "limit", 1, 10)
        assert info.value.text == "limit must be a whole number from 1 to 10", bad


def test_natural() -> None:
    assert natural("0", "tail") == 0
    assert natural(str(MAX_SEQ), "Last-Event-ID") == MAX_SEQ
    for bad in ("-1", str(MAX_SEQ + 1), "abc", ""):
        with pytest.raises(web.HTTPBadRequest) as info:
            natural(bad, "Last-Event-ID")
        assert info.value.text == "Last-Event-ID must be a whole number of 0 or more", bad


def test_stream_ids() -> None:
    assert stream_ids(request("tail=3")) is None
    assert stream_ids(request("streams=")) == []
    assert stream_ids(request("streams=app,%20other%20,,*")) == ["app", "other", wire.ALL]
    with pytest.raises(web.HTTPBadRequest) as info:
        stream_ids(request("streams=app,Bad!"))
    assert info.value.text == "not a stream id: 'Bad!'"
