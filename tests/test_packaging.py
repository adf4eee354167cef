"""The package as users get it: a wheel holds the viewer, and an installed
(non-editable) tailcast serves it without the source tree.

The wheel is built from a copy of the tracked files in a temp folder, so a
stale ``build/`` folder in the checkout cannot hide a packaging mistake.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tailcast import __version__
from tests.helpers import SERVING_RE, end_process

ROOT = Path(__file__).resolve().parent.parent
# What a build needs from the checkout; everything else stays out of it.
BUILD_INPUTS = ("setup.cfg", "pyproject.toml", "README.md", "tailcast", "static")
PIP_TIMEOUT = 240


def _pip(python: str | Path, *args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(
        [str(python), "-m", "pip", *args, "--disable-pip-version-check", "--no-input"],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=PIP_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, f"pip {' '.join(args)} failed:\n{result.stdout}{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = tmp_path_factory.mktemp("src")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=ignore)
        elif path.exists():
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp("dist")
    _pip(sys.executable, "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(src))
    wheels = list(out.glob("tailcast-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_holds_the_viewer_and_the_package(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "tailcast/static/index.html" in names
    assert "tailcast/static/app.js" in names
    assert "tailcast/py.typed" in names
    assert "tailcast/cli.py" in names
    # Every file of the viewer, in every sub-folder, ships.
    static = {
        "tailcast/static/" + p.relative_to(ROOT / "static").as_posix()
        for p in (ROOT / "static").rglob("*")
        if p.is_file()
    }
    assert static <= names, sorted(static - names)
    # Every module of the source tree ships.
    modules = {
        p.relative_to(ROOT).as_posix()
        for p in (ROOT / "tailcast").rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert modules <= names, sorted(modules - names)
    meta = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "tailcast = tailcast.cli:console_main" in zipfile.ZipFile(wheel).read(meta).decode()


@pytest.fixture(scope="module")
def venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed; the dependencies are this Python's.

    ``--system-site-packages`` would see only the *base* Python's packages,
    not those of a venv the tests run in; a ``.pth`` file naming this
    process's site folders sees both. It adds them after the venv's own, and
    their own ``.pth`` files (an editable tailcast) are not processed, so the
    tailcast imported is the installed wheel.
    """
    home = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(home)], check=True, timeout=PIP_TIMEOUT)
    python = home / "bin" / "python"
    (purelib,) = home.glob("lib/python3*/site-packages")
    sites = [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]
    assert sites, sys.path
    (purelib / "outer-site.pth").write_text("".join(f"{site}\n" for site in sites))
    _pip(python, "install", "--no-deps", "--no-build-isolation", "--no-index", str(wheel))
    return home


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, cwd=cwd, timeout=60, check=False)


def test_installed_package_is_used_not_the_source_tree(venv: Path, tmp_path: Path) -> None:
    python = str(venv / "bin" / "python")
    code = "import tailcast.web.viewer as a; print(a.__file__); print(a.static_dir())"
    result = _run([python, "-c", code], tmp_path)
    assert result.returncode == 0, result.stderr
    module, static = result.stdout.split()
    assert Path(module).is_relative_to(venv), module
    assert Path(static).is_relative_to(venv), static


def test_version_from_the_installed_package(venv: Path, tmp_path: Path) -> None:
    for cmd in ([str(venv / "bin" / "python"), "-m", "tailcast"], [str(venv / "bin" / "tailcast")]):
        result = _run([*cmd, "--version"], tmp_path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"tailcast {__version__}"


@pytest.fixture
def installed_server(venv: Path, tmp_path: Path) -> Iterator[str]:
    """The venv's ``tailcast -`` on a free port, from a temp cwd; yields its URL."""
    proc = subprocess.Popen(
        [str(venv / "bin" / "tailcast"), "-", "--port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    try:
        assert proc.stderr is not None
        # Bounded by pytest-timeout; the first line is the serving line (the contract).
        first = proc.stderr.readline().decode(errors="replace").strip()
        m = SERVING_RE.match(first)
        assert m, f"the installed tailcast did not start: {first!r}"
        yield m.group(2)
    finally:
        end_process(proc)


def _get(url: str) -> tuple[int, str, bytes]:
    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as resp:
                return resp.status, resp.headers.get("Content-Type", ""), resp.read()
        except ConnectionError:
            if time.monotonic() > deadline:
                raise


def test_installed_tailcast_serves_the_viewer(installed_server: str) -> None:
    url = installed_server
    assert url.startswith("http://127.0.0.1:"), url
    status, ctype, body = _get(url)
    assert status == 200
    assert ctype.startswith("text/html")
    assert body == (ROOT / "static" / "index.html").read_bytes()
    status, ctype, body = _get(url + "static/app.js")
    assert status == 200
    assert "javascript" in ctype
    assert body == (ROOT / "static" / "app.js").read_bytes()
    status, _, body = _get(url + "healthz")
    assert status == 200
    assert b'"ok"' in body
