"""The one error shape: JSON ``{"error": TEXT}`` with its status and extra headers."""

from __future__ import annotations

import json

from tailcast.web.responses import json_error


def test_json_error() -> None:
    response = json_error(503, "full", **{"Retry-After": "5"})
    assert response.status == 503
    assert response.content_type == "application/json"
    assert response.headers["Retry-After"] == "5"
    assert response.text is not None
    assert json.loads(response.text) == {"error": "full"}
