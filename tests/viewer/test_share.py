"""A real Chromium following a share link: ``URL#share=TOKEN``.

The page logs in with the fragment's token, shows only the shared stream,
leaves the token neither in the address bar nor in any URL it requested, and
a reload still works through the session cookie. An expired link says so.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from playwright.sync_api import Page, Request, expect

from tests.helpers import DEADLINE
from tests.viewer.support import ThreadServer, row_texts, wait_rows

TOKEN = "owner-token-of-the-viewer-share-test"


def make_share(srv: ThreadServer, streams: list[str], expires_in: float = 3600) -> dict[str, Any]:
    request = urllib.request.Request(
        srv.url + "api/shares",
        data=json.dumps({"streams": streams, "expires_in": expires_in}).encode(),
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=DEADLINE) as response:
        assert response.status == 201
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def panel_ids(page: Page) -> list[str]:
    ids: list[str] = page.eval_on_selector_all(
        "#streams [data-sid]", "els => els.map(e => e.dataset.sid)"
    )
    return ids


def test_a_share_link_shows_its_stream_only_and_drops_the_token(page: Page, server: Any) -> None:
    srv: ThreadServer = server(token=TOKEN)
    shared = srv.add_stream("shared")
    secret = srv.add_stream("secret")
    srv.publish(shared, ["for the guest"])
    srv.publish(secret, ["not for the guest"])
    share = make_share(srv, [shared])
    urls: list[str] = []

    def record(request: Request) -> None:
        urls.append(request.url)

    page.on("request", record)
    page.on("websocket", lambda ws: urls.append(ws.url))
    page.goto(srv.url + "#share=" + share["token"])
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    assert wait_rows(page, shared, 1) == [1]
    assert row_texts(page) == ["for the guest"]
    assert panel_ids(page) == [shared]
    expect(page.locator("#login")).to_be_hidden()
    # Out of the address bar, never in a URL asked for (the first is the page, sans fragment).
    assert page.url == srv.url
    assert share["token"] not in page.evaluate("location.href + JSON.stringify(history.state)")
    assert urls and not any(share["token"] in u for u in urls)
    assert share["token"] not in page.evaluate("JSON.stringify(localStorage) + document.cookie")
    # A reload works by the cookie alone.
    page.reload()
    expect(page.locator("#conn")).to_have_attribute("data-state", "live")
    assert wait_rows(page, shared, 1) == [1]
    srv.publish(shared, ["more for the guest"])
    assert wait_rows(page, shared, 2) == [1, 2]
    assert row_texts(page) == ["for the guest", "more for the guest"]
    assert panel_ids(page) == [shared]
    # Revoked: the open page is locked out (4001 -> the login form).
    request = urllib.request.Request(
        srv.url + f"api/shares/{share['id']}",
        headers={"Authorization": f"Bearer {TOKEN}"},
        method="DELETE",
    )
    with urllib.request.urlopen(request, timeout=DEADLINE) as response:
        assert response.status == 204
    expect(page.locator("#login")).to_be_visible()


def test_an_expired_share_link_says_so(page: Page, server: Any) -> None:
    srv: ThreadServer = server(token=TOKEN)
    sid = srv.add_stream("app")
    page.goto(srv.url + "#share=not-a-live-share-token")
    expect(page.locator("#notice")).to_contain_text("expired or was revoked")
    expect(page.locator("#login")).to_be_visible()
    assert page.url == srv.url
    assert page.locator("#rows .row").count() == 0
    assert sid
