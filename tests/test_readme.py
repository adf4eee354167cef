"""The README keeps in step with the program: its two commands, CI, every
option of ``--help``, its config example and its command examples.
"""

from __future__ import annotations

import argparse
import re
import shlex
from pathlib import Path

import pytest

from tailcast.cli import build_parser
from tailcast.config import load_file, parse_source

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DEMO_COMMAND = "bash scripts/demo.sh"
TEST_COMMAND = "bash scripts/test.sh"


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README, re.M | re.S)


def test_readme_has_the_two_commands_first() -> None:
    first = _blocks("sh")[0].splitlines()
    assert [line.split("#")[0].strip() for line in first[:2]] == [DEMO_COMMAND, TEST_COMMAND]
    for command in (DEMO_COMMAND, TEST_COMMAND):
        assert (ROOT / command.split()[1]).is_file(), command


def test_ci_runs_exactly_the_readme_test_command() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    runs = [line for line in lines if "scripts/" in line or "pytest" in line]
    assert runs == [f'exec {TEST_COMMAND} "$@"'], runs


def _options(parser: argparse.ArgumentParser) -> set[str]:
    return {
        opt
        for action in parser._actions
        for opt in action.option_strings
        if opt.startswith("--") and opt != "--help"
    }


def _table_options(heading: str) -> set[str]:
    """The options named in the first column of the tables after ``heading``."""
    section = README.split(heading, 1)[1].split("\n## ", 1)[0]
    found = set()
    # The first cell of each row (a cell may hold an escaped "\|").
    for cell in re.findall(r"^\|((?:[^|\\]|\\.)+)\|", section, re.M):
        found.update(re.findall(r"`(--[a-z][a-z-]*)", cell))
    return found


@pytest.mark.parametrize("command", ["serve", "run", "watch", "share"])
def test_every_option_of_help_is_in_the_readme_options(command: str) -> None:
    documented = _table_options("\n## Options\n")
    missing = _options(build_parser()[command]) - documented
    assert not missing, f"tailcast {command}: options missing from the README's table: {missing}"


def test_the_readme_documents_no_option_that_does_not_exist() -> None:
    real = set().union(*(_options(p) for p in build_parser().values()))
    assert _table_options("\n## Options\n") - real == set()


def test_every_source_form_is_documented() -> None:
    for form in (
        "`PATH`",
        "`'GLOB'`",
        "`cmd:COMMAND`",
        "`docker:NAME_OR_ID`",
        "`docker:*`",
        "`docker:label=KEY=VALUE`",
        "`-`",
        "`NAME=`",
    ):
        assert form in README, form


def test_the_config_example_is_valid(tmp_path: Path) -> None:
    (toml,) = _blocks("toml")
    path = tmp_path / "tailcast.toml"
    path.write_text(toml)
    settings, sources = load_file(str(path))
    assert settings["port"] == 8080
    assert [s.kind for s in sources] == ["file", "glob", "process", "docker"]
    assert sources[2].cwd == "/srv/public"
    assert sources[2].env == {"PYTHONUNBUFFERED": "1"}


def _without_redirections(words: list[str]) -> list[str]:
    kept: list[str] = []
    skip = False
    for word in words:
        if skip:
            skip = False
        elif re.fullmatch(r"\d*(>>?|<)(&\d)?", word):
            skip = not word.endswith(("&1", "&2"))  # "> FILE": the next word is the file
        else:
            kept.append(word)
    return kept


def _tailcast_commands() -> list[list[str]]:
    """Every ``tailcast ...`` invocation in the README's shell examples."""
    found = []
    for block in _blocks("sh"):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("|"):
                words = shlex.split(part, comments=True)
                while words and re.match(r"[A-Z_]+=", words[0]):
                    words.pop(0)  # VAR=value before the command
                if words and words[0] == "tailcast":
                    found.append(_without_redirections(words[1:]))
    return found


def test_every_command_example_parses() -> None:
    commands = _tailcast_commands()
    assert len(commands) >= 10
    parsers = build_parser()
    for args in commands:
        command = args[0] if args and args[0] in parsers else "serve"
        rest = args[1:] if command != "serve" or args[:1] == ["serve"] else args
        try:
            ns = parsers[command].parse_args(rest)
        except SystemExit as exc:
            raise AssertionError(
                f"README example does not parse: tailcast {shlex.join(args)}"
            ) from exc
        for source in getattr(ns, "sources", None) or []:
            parse_source(source)


def test_links_to_files_in_the_repository_exist() -> None:
    for target in re.findall(r"\]\(([^)#\s]+)\)", README):
        if "://" not in target:
            assert (ROOT / target).exists(), target
