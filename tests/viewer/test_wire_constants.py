"""The viewer's wire constants (static/conn/wire.js) are the server's (tailcast.protocol.wire).

No browser needed: the module is read as text. Every ``export const NAME =
VALUE;`` of it must be a constant of the same name and value in Python, and
every close code and the subprotocol of the Python side must be in it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tailcast.protocol import wire

WIRE_JS = Path(__file__).resolve().parents[2] / "static" / "conn" / "wire.js"
EXPORT_RE = re.compile(r"^export const ([A-Z_]+) = (.+?);", re.M)


def _js_constants() -> dict[str, object]:
    return {
        name: json.loads(value) for name, value in EXPORT_RE.findall(WIRE_JS.read_text("utf-8"))
    }


def test_wire_js_equals_the_python_side() -> None:
    js = _js_constants()
    python = {
        name: getattr(wire, name)
        for name in wire.__all__
        if name.startswith("CLOSE_") or name == "SUBPROTOCOL"
    }
    assert js == python
    assert js["SUBPROTOCOL"] == "tailcast.v1"
    assert {v for k, v in js.items() if k.startswith("CLOSE_")} == {
        1000,
        1001,
        1008,
        1009,
        4001,
        4004,
    }


def test_no_other_viewer_module_spells_them_out() -> None:
    """Defined once: the rest of static/ imports them from conn/wire.js."""
    static = WIRE_JS.parents[1]
    codes = re.compile(r"\b(1000|1001|1008|1009|4001|4004)\b|tailcast\.v1")
    offenders = []
    for path in sorted(static.rglob("*.js")):
        if path == WIRE_JS:
            continue
        for number, line in enumerate(path.read_text("utf-8").splitlines(), 1):
            code = line.split("//", 1)[0]
            if codes.search(code) and ("close" in code.lower() or "tailcast.v1" in code):
                offenders.append(f"{path.relative_to(static)}:{number}: {line.strip()}")
    assert offenders == []
