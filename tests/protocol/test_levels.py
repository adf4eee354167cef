"""tailcast.protocol.levels: a table of real-world line shapes and the level each states."""

from __future__ import annotations

import pytest

from tailcast.protocol.levels import LEVELS, detect_level, level_from_priority, normalise

# (where the shape comes from, the line, the level it states or None)
TABLE: list[tuple[str, str, str | None]] = [
    # Python logging
    ("python basicConfig", "ERROR:root:connection refused", "error"),
    ("python basicConfig", "WARNING:root:disk almost full", "warn"),
    ("python basicConfig", "CRITICAL:app.db:pool exhausted", "fatal"),
    ("python basicConfig", "INFO:__main__:started", "info"),
    ("python basicConfig", "DEBUG:urllib3.connectionpool:Starting new HTTPS connection", "debug"),
    ("python asctime format", "2024-05-01 12:00:00,123 - myapp - ERROR - payment failed", "error"),
    ("python asctime format", "2024-05-01 12:00:00,123 - myapp - INFO - error count is 0", "info"),
    ("python traceback head", "Traceback (most recent call last):", "error"),
    ("python exception line", "ValueError: invalid literal for int()", None),
    (
        "uvicorn",
        'INFO:     127.0.0.1:51234 - "GET /error HTTP/1.1" 500 Internal Server Error',
        "info",
    ),
    ("uvicorn", "ERROR:    Exception in ASGI application", "error"),
    ("gunicorn", "[2024-05-01 12:00:00 +0000] [7] [INFO] Starting gunicorn 21.2.0", "info"),
    ("gunicorn", "[2024-05-01 12:00:00 +0000] [7] [CRITICAL] WORKER TIMEOUT (pid:9)", "fatal"),
    ("django runserver", '[01/May/2024 12:00:00] "GET /errors HTTP/1.1" 500 145', None),
    # Go
    (
        "go slog text",
        'time=2024-05-01T12:00:00.000Z level=INFO msg="server started" port=8080',
        "info",
    ),
    (
        "go slog text",
        'time=2024-05-01T12:00:00.000Z level=ERROR msg="db down" err="dial tcp"',
        "error",
    ),
    ("go slog json", '{"time":"2024-05-01T12:00:00Z","level":"WARN","msg":"slow query"}', "warn"),
    (
        "go slog json",
        '{"time":"2024-05-01T12:00:00Z","level":"INFO","msg":"error budget ok"}',
        "info",
    ),
    ("zap json", '{"level":"error","ts":1714564800.1,"caller":"main.go:12","msg":"boom"}', "error"),
    ("zap json", '{"level":"dpanic","ts":1714564800.1,"msg":"impossible"}', "fatal"),
    ("zap console", "2024-05-01T12:00:00.000Z\tINFO\tserver/main.go:40\tlistening", "info"),
    ("zap console", "2024-05-01T12:00:00.000Z\tWARN\tserver/main.go:41\tretrying", "warn"),
    ("logrus text", 'time="2024-05-01T12:00:00Z" level=warning msg="cache miss"', "warn"),
    ("logrus tty", "ERRO[0003] failed to pull image", "error"),
    ("logrus tty", "INFO[0000] starting up                                    version=1.2", "info"),
    ("logrus json", '{"level":"fatal","msg":"cannot bind","time":"2024-05-01T12:00:00Z"}', "fatal"),
    ("go log", "2024/05/01 12:00:00 error reading config: open x: no such file", None),
    ("go panic", "panic: runtime error: index out of range [5] with length 3", "fatal"),
    ("go fatal", "fatal error: all goroutines are asleep - deadlock!", "fatal"),
    ("go-kit logfmt", "ts=2024-05-01T12:00:00Z caller=main.go:10 level=debug msg=tick", "debug"),
    # Java
    ("logback default", "12:00:00.123 [main] ERROR com.example.App - request failed", "error"),
    ("logback default", "12:00:00.123 [main] INFO  com.example.App - no errors found", "info"),
    (
        "spring boot",
        "2024-05-01T12:00:00.123Z  WARN 4242 --- [main] o.s.b.Foo : deprecated",
        "warn",
    ),
    (
        "spring boot",
        "2024-05-01 12:00:00.123 ERROR 4242 --- [nio-8080-exec-1] o.a.c.c.C : x",
        "error",
    ),
    ("log4j2", "2024-05-01 12:00:00,123 DEBUG [pool-1-thread-1] com.x.Y - tick", "debug"),
    ("log4j2", "2024-05-01 12:00:00,123 FATAL [main] com.x.Y - giving up", "fatal"),
    ("java.util.logging", "SEVERE: Servlet.service() threw exception", "error"),
    ("java.util.logging", "May 01, 2024 12:00:00 PM org.apache.catalina.Foo start", None),
    ("jvm uncaught", 'Exception in thread "main" java.lang.IllegalStateException: boom', "error"),
    ("java stack frame", "\tat com.example.App.main(App.java:10)", None),
    ("java caused by", "Caused by: java.io.IOException: Broken pipe", None),
    # Node
    ("pino json", '{"level":30,"time":1714564800000,"pid":1,"msg":"request completed"}', "info"),
    ("pino json", '{"level":50,"time":1714564800000,"pid":1,"msg":"request errored"}', "error"),
    ("pino json", '{"level":10,"time":1714564800000,"msg":"x"}', "trace"),
    ("pino-pretty", "[12:00:00.000] INFO (4242): server listening", "info"),
    ("pino-pretty", "[12:00:00.000] ERROR (4242): unhandled rejection", "error"),
    ("winston json", '{"level":"warn","message":"high memory","service":"api"}', "warn"),
    ("winston simple", "error: ECONNREFUSED 127.0.0.1:5432", "error"),
    ("winston simple", "info: server started on port 3000", "info"),
    ("node uncaught", "Error: Cannot find module 'express'", "error"),
    ("bunyan", '{"name":"app","hostname":"h","pid":1,"level":40,"msg":"slow","v":0}', "warn"),
    # nginx, Apache, MySQL, Postgres
    (
        "nginx error log",
        "2024/05/01 12:00:00 [error] 31#31: *1 open() failed (2: No such file)",
        "error",
    ),
    ("nginx error log", "2024/05/01 12:00:00 [notice] 1#1: start worker processes", "info"),
    ("nginx error log", "2024/05/01 12:00:00 [emerg] 1#1: bind() to 0.0.0.0:80 failed", "fatal"),
    (
        "nginx access log",
        '10.0.0.1 - - [01/May/2024:12:00:00 +0000] "GET /error HTTP/1.1" 500 12',
        None,
    ),
    ("apache error", "[Wed May 01 12:00:00.123456 2024] [core:error] [pid 42] AH00037: x", "error"),
    (
        "mysql",
        "2024-05-01T12:00:00.123456Z 0 [Warning] [MY-010068] [Server] CA is self signed.",
        "warn",
    ),
    (
        "postgres",
        '2024-05-01 12:00:00.123 UTC [42] ERROR:  relation "users" does not exist',
        "error",
    ),
    ("postgres", "2024-05-01 12:00:00.123 UTC [42] LOG:  database system is ready", None),
    ("laravel", "[2024-05-01 12:00:00] production.ERROR: Undefined variable $x", "error"),
    # Rails / Ruby
    ("ruby logger", "E, [2024-05-01T12:00:00.123456 #4242] ERROR -- : boom", "error"),
    ("ruby logger", "I, [2024-05-01T12:00:00.123456 #4242]  INFO -- : Started GET", "info"),
    ("ruby logger", "W, [2024-05-01T12:00:00.123456 #4242]  WARN -- : deprecated", "warn"),
    ("rails tagged", '[req-3f2a] Started GET "/errors/new" for 127.0.0.1 at 2024-05-01', None),
    ("rails", "Completed 500 Internal Server Error in 12ms", None),
    # Kubernetes klog / glog
    ("klog", "E0501 12:00:00.123456       1 reflector.go:138] failed to watch", "error"),
    ("klog", "I0501 12:00:00.123456       1 leaderelection.go:248] attempting", "info"),
    ("klog", "W0501 12:00:00.123456       1 warnings.go:70] deprecated API", "warn"),
    ("klog", "F0501 12:00:00.123456       1 main.go:10] cannot start", "fatal"),
    # syslog
    (
        "syslog rfc3164",
        "May  1 12:00:00 web1 sshd[4242]: error: kex_exchange_identification",
        "error",
    ),
    (
        "syslog rfc3164",
        "May  1 12:00:00 web1 CRON[99]: (root) CMD (run-parts /etc/cron.hourly)",
        None,
    ),
    ("syslog rfc3164", "May  1 12:00:00 web1 app[1]: Connection error, retrying", None),
    ("syslog with pri", "<11>1 2024-05-01T12:00:00Z web1 app 42 - - disk failure", "error"),
    ("syslog with pri", "<30>May  1 12:00:00 web1 systemd[1]: Started x.service.", "info"),
    ("sd-daemon prefix", "<4>low on entropy", "warn"),
    # common prefixes and .NET, Elixir
    ("bracketed", "[ERROR] could not open socket", "error"),
    ("bracketed", "[warn] using default config", "warn"),
    ("angle", "<E> out of memory", "error"),
    ("uppercase word", "WARN disk usage at 91%", "warn"),
    (".net console", "fail: Microsoft.AspNetCore.Server.Kestrel[13]", "error"),
    (".net console", "info: Microsoft.Hosting.Lifetime[14]", "info"),
    (".net console", "crit: Microsoft.AspNetCore.Hosting.Diagnostics[6]", "fatal"),
    (".net console", "dbug: Microsoft.Extensions.Hosting.Internal.Host[1]", "debug"),
    ("elixir", "12:00:00.123 [error] GenServer #PID<0.123.0> terminating", "error"),
    # the word "error" inside a message is not a level
    ("plain", "Connection error: timed out", None),
    ("plain", "error reading file /etc/x", None),
    ("plain", "the build finished with 0 errors and 2 warnings", None),
    ("plain", "user=alice action=delete result=error", None),
    ("json without level", '{"msg":"level error in config","status":"error"}', None),
    ("json escaped level", '{"message":"{\\"level\\":\\"error\\"}"}', None),
    ("json other level", '{"user":{"level":"admin"},"msg":"login"}', None),
    ("indented", "    raise ValueError('ERROR: bad')", None),
    ("empty", "", None),
    (
        "ecs json",
        '{"@timestamp":"2024-05-01T12:00:00Z","log.level":"error","message":"x"}',
        "error",
    ),
    (
        "ecs nested",
        '{"@timestamp":"2024-05-01T12:00:00Z","log":{"logger":"a","level":"warn"}}',
        "warn",
    ),
    ("gcp json", '{"severity":"ERROR","message":"x"}', "error"),
    ("json any case", '{"Level":"Err","msg":"x"}', "error"),
    ("json short", '{"lvl":"E","msg":"x"}', "error"),
]


def test_the_table_is_big_enough() -> None:
    assert len(TABLE) >= 60
    assert {level for _, _, level in TABLE} == set(LEVELS) | {None}


@pytest.mark.parametrize(
    ("shape", "line", "level"), TABLE, ids=[f"{s}:{t[:30]}" for s, t, _ in TABLE]
)
def test_level_of_real_world_line(shape: str, line: str, level: str | None) -> None:
    assert detect_level(line) == level, f"{shape}: {line!r}"


def test_journal_priority() -> None:
    assert [level_from_priority(p) for p in range(8)] == [
        "fatal",
        "fatal",
        "fatal",
        "error",
        "warn",
        "info",
        "info",
        "debug",
    ]
    assert level_from_priority(9) is None


def test_normalise_values() -> None:
    assert normalise("WARNING") == "warn"
    assert normalise("critical") == "fatal"
    assert normalise("emerg") == "fatal"
    assert normalise(60) == "fatal"
    assert normalise("3") == "error"
    assert normalise(True) is None
    assert normalise("admin") is None


def test_digits_int_cannot_read_are_no_level() -> None:
    # "²" is a digit to str.isdigit but not to int(): it raised ValueError
    # from detection (one such line broke its batch's publishing).
    assert detect_level('{"level":²3,"msg":"x"}') is None
    assert detect_level('{"level":"²","msg":"x"}') is None
    assert normalise("²") is None
    assert detect_level('{"level":٣٠,"msg":"x"}') == "info"  # Arabic-Indic 30: int() reads it
