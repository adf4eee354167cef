"""tailcast.protocol.follows: stack traces and continuations are marked as part of their message."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tailcast.protocol.columns import Columns
from tailcast.protocol.follows import (
    MessageState,
    annotate,
    annotate_columns,
    annotate_entries,
    annotate_one,
)


def marks(text: str, fd: str | None = None) -> list[tuple[str | None, bool]]:
    """(level, follows) of each line of ``text``, one batch, one fresh stream."""
    return annotate(MessageState(), [(line, False) for line in text.split("\n")], fd)


def follows_of(text: str) -> list[bool]:
    return [f for _, f in marks(text)]


PYTHON = """\
ERROR:root:payment failed
Traceback (most recent call last):
  File "/app/pay.py", line 10, in charge
    raise ValueError("card declined")
ValueError: card declined

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/app/main.py", line 3, in <module>
RuntimeError: giving up
INFO:root:next request"""


def test_python_traceback_with_chained_exception() -> None:
    got = marks(PYTHON)
    assert [f for _, f in got] == [False] + [True] * 10 + [False]
    assert {lv for lv, _ in got[:11]} == {"error"}  # the trace shares its message's level
    assert got[-1] == ("info", False)


def test_uncaught_python_traceback_starts_an_error_message() -> None:
    got = marks('INFO:root:start\nTraceback (most recent call last):\n  File "x.py"\nKeyError: 1')
    assert got == [("info", False), ("error", False), ("error", True), ("error", True)]


JAVA = """\
2024-05-01 12:00:00.123 ERROR 1 --- [main] c.e.App : request failed
java.lang.IllegalStateException: boom
\tat com.example.App.run(App.java:10)
\tat com.example.App.main(App.java:5)
Caused by: java.io.IOException: Broken pipe
\tat java.base/sun.nio.ch.IOUtil.write(IOUtil.java:1)
\t... 2 more
2024-05-01 12:00:01.000  INFO 1 --- [main] c.e.App : recovered"""


def test_java_stack_trace_with_caused_by() -> None:
    got = marks(JAVA)
    assert [f for _, f in got] == [False] + [True] * 6 + [False]
    assert got[3][0] == "error" and got[-1] == ("info", False)


def test_java_exception_line_after_an_info_line_is_its_own_message() -> None:
    assert follows_of("INFO started\njava.lang.RuntimeException: x\n\tat a.B.c(B.java:1)") == [
        False,
        False,
        True,
    ]


GO_PANIC = """\
panic: runtime error: index out of range [5] with length 3

goroutine 1 [running]:
main.main()
\t/tmp/x.go:8 +0x1d
exit status 2"""


def test_go_panic() -> None:
    got = marks(GO_PANIC)
    assert [f for _, f in got] == [False, True, True, True, True, False]
    assert got[0] == ("fatal", False) and got[3] == ("fatal", True)


GOROUTINES = """\
goroutine 1 [chan receive]:
main.main()
\t/app/main.go:20 +0x4b

goroutine 18 [IO wait]:
internal/poll.runtime_pollWait(0x7f, 0x72)
\t/usr/lib/go/src/runtime/netpoll.go:343 +0x85
created by main.serve in goroutine 1
\t/app/main.go:12 +0x25"""


def test_go_goroutine_dump() -> None:
    assert follows_of(GOROUTINES) == [False] + [True] * 8


def test_indented_continuation_and_node_stack() -> None:
    text = (
        "Error: Cannot find module 'x'\n    at Module._resolve (node:internal:1:2)\n  code: 'X'\nok"
    )
    assert marks(text) == [("error", False), ("error", True), ("error", True), (None, False)]


def test_first_line_and_other_fd_never_follow() -> None:
    state = MessageState()
    assert annotate_one(state, "  indented first", "out", False) == (None, False)
    assert annotate_one(state, "head", "out", False) == (None, False)
    assert annotate_one(state, "  from stderr", "err", False) == (None, False)
    assert annotate_one(state, "  same fd", "err", False) == (None, True)


def test_cont_piece_is_part_of_its_line() -> None:
    state = MessageState()
    assert annotate_one(state, "ERROR x", None, False) == ("error", False)
    assert annotate_one(state, "rest of the line", None, True) == ("error", False)
    assert annotate_one(state, "\tat a", None, False) == ("error", True)
    assert annotate_one(state, "more of it", None, True) == ("error", True)


def test_state_carries_across_batches() -> None:
    state = MessageState()
    annotate(state, [("WARN slow", False)], None)
    assert annotate(state, [("  detail", False), ("next", False)], None) == [
        ("warn", True),
        (None, False),
    ]


def test_explicit_level_stands_for_heads() -> None:
    state = MessageState()
    got = annotate(state, [("ERROR in text", False), ("  more", False)], None, explicit="info")
    assert got == [("info", False), ("info", True)]


def test_a_level_of_the_callers_own_carries_like_a_detected_one() -> None:
    # annotate shares one (level, follows) pair per level; a level that is
    # not one of LEVELS gets pairs of its own, in this batch and the next.
    state = MessageState()
    got = annotate(state, [("x", False), ("  more", False), ("rest", True)], None, "notice")
    assert got == [("notice", False), ("notice", True), ("notice", True)]
    assert annotate(state, [("\tat y", False), ("WARN z", False)], None) == [
        ("notice", True),
        ("warn", False),
    ]


# Lines that exercise every rule: heads of each level, the five stack-trace
# shapes, blank lines, cont pieces.
_SHAPES = [
    "ERROR:root:payment failed",
    "WARN disk full",
    "INFO started",
    "plain words",
    "",
    "Traceback (most recent call last):",
    '  File "/app/x.py", line 1, in f',
    "ValueError: boom",
    "During handling of the above exception, another exception occurred:",
    "java.lang.IllegalStateException: boom",
    "\tat com.example.App.run(App.java:10)",
    "Caused by: java.io.IOException: pipe",
    "Suppressed: x.Y: z",
    "panic: runtime error",
    "goroutine 1 [running]:",
    "main.main()",
    "exit status 2",
    "fatal error: deadlock",
    '{"level":"error","msg":"x"}',
]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.lists(
            st.tuples(st.sampled_from(_SHAPES), st.booleans(), st.sampled_from(["out", "err"])),
            max_size=12,
        ),
        max_size=6,
    )
)
def test_annotate_on_batches_is_annotate_one_on_each(
    batches: list[list[tuple[str, bool, str]]],
) -> None:
    """The batch loop (with its inlined fast paths) says what the line-by-line rule says."""
    by_batch, by_line = MessageState(), MessageState()
    for batch in batches:
        # annotate takes one fd per batch: split where the fd changes.
        runs: list[tuple[str, list[tuple[str, bool]]]] = []
        for text, cont, fd in batch:
            if not runs or runs[-1][0] != fd:
                runs.append((fd, []))
            runs[-1][1].append((text, cont))
        for fd, pieces in runs:
            got = annotate(by_batch, pieces, fd)
            want = [annotate_one(by_line, text, fd, cont) for text, cont in pieces]
            assert got == want


_LINES = st.sampled_from(
    [
        "ERROR x",
        "info: fine",
        "Traceback (most recent call last):",
        '  File "a.py", line 1',
        "ValueError: no",
        "java.lang.IllegalStateException: bad",
        "\tat a.b(C.java:1)",
        "Caused by: x",
        "panic: boom",
        "goroutine 1 [running]:",
        "main.main()",
        "",
        "GET / 200",
    ]
)


@settings(deadline=None)  # a loaded machine must not fail an example by its time
@given(
    st.lists(
        st.tuples(
            _LINES,
            st.sampled_from([None, "out", "err"]),
            st.booleans(),
            st.sampled_from([None, "error", "info"]),
        ),
        max_size=12,
    )
)
def test_annotate_entries_is_annotate_one_on_each(
    items: list[tuple[str, str | None, bool, str | None]],
) -> None:
    """The journal's batch path marks exactly what the one-line path marks."""
    one, batch = MessageState(), MessageState()
    expected = [annotate_one(one, text, fd, cont, given) for text, fd, cont, given in items]
    entries = [(1.0, text, fd, cont, given) for text, fd, cont, given in items]
    assert annotate_entries(batch, entries) == expected
    assert batch == one


# annotate_columns looks only at lines that may continue the one before: first
# characters of every kind (each rule's, lower case, non-ASCII, empty).
_COLUMN_TEXTS = st.sampled_from(
    [*_SHAPES, "GET / 200", "é accent", "lower words", "T", "p", "f", "g", "C", "S", "Ω", " "]
)
_GIVEN = st.sampled_from(["fatal", "error", "warn", "info", "debug"])


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.tuples(_LINES, st.sampled_from([None, "out"]), st.booleans(), _GIVEN), max_size=4),
    st.lists(st.lists(st.tuples(_COLUMN_TEXTS, _GIVEN), max_size=14), max_size=5),
)
def test_annotate_columns_is_annotate_entries(
    before: list[tuple[str, str | None, bool, str]],
    batches: list[list[tuple[str, str]]],
) -> None:
    """The journal's bulk path gives every line, and the state after, what the loop gives.

    ``before`` leaves the state anywhere (inside a traceback, after an error,
    on another fd, after a cont piece).
    """
    bulk, loop = MessageState(), MessageState()
    earlier = [(1.0, text, fd, cont, level) for text, fd, cont, level in before]
    annotate_entries(bulk, earlier)
    annotate_entries(loop, earlier)
    for batch in batches:
        texts = [text for text, _ in batch]
        levels = [level for _, level in batch]
        columns = Columns(texts, levels, ["1796137705434125"] * len(batch))
        assert annotate_columns(bulk, columns) == annotate_entries(loop, columns.entries())
        if batch:
            assert bulk == loop


def test_annotate_columns_follows_a_traceback_across_entries() -> None:
    """A service's traceback, one journal entry a line, is one message at its head's level."""
    texts = [
        "payment failed",
        "Traceback (most recent call last):",
        '  File "/app/x.py", line 1, in f',
        "ValueError: boom",
        "next request",
    ]
    levels = ["error", "error", "error", "error", "info"]
    marks = annotate_columns(MessageState(), Columns(texts, levels, ["1796137705434125"] * 5))
    assert marks == [
        ("error", False),
        ("error", True),
        ("error", True),
        ("error", True),
        ("info", False),
    ]
