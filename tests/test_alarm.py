"""tailcast.alarm: rings once a timeout after the last arm, with one timer for many arms."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from contextvars import Context
from typing import TypeVarTuple

from tailcast.alarm import Alarm

_Ts = TypeVarTuple("_Ts")


class Bell:
    """What an alarm rang: when, and an event to wait for."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.rung = asyncio.Event()

    def __call__(self) -> None:
        self.times.append(asyncio.get_running_loop().time())
        self.rung.set()

    async def wait(self) -> None:
        async with asyncio.timeout(10):
            await self.rung.wait()


async def test_rings_once_the_timeout_after_arming() -> None:
    loop = asyncio.get_running_loop()
    bell = Bell()
    alarm = Alarm(bell)
    armed = loop.time()
    alarm.arm(0.05)
    assert alarm.armed
    await bell.wait()
    assert bell.times[0] >= armed + 0.05
    assert not alarm.armed
    await asyncio.sleep(0.1)
    assert len(bell.times) == 1  # once, not again and again


async def test_arming_again_postpones_it() -> None:
    loop = asyncio.get_running_loop()
    bell = Bell()
    alarm = Alarm(bell)
    alarm.arm(0.1)
    # Armed again at once, for longer: no sleep between the two, so the first
    # timer cannot ring before the second arm however loaded the machine is.
    again = loop.time()
    alarm.arm(0.2)  # the first timer comes before this deadline: it must wait on
    await bell.wait()
    assert bell.times[0] >= again + 0.2
    assert len(bell.times) == 1


async def test_a_shorter_timeout_comes_sooner() -> None:
    loop = asyncio.get_running_loop()
    bell = Bell()
    alarm = Alarm(bell)
    alarm.arm(3600)
    armed = loop.time()
    alarm.arm(0.01)
    await bell.wait()  # within 10 s, not an hour
    assert bell.times[0] >= armed + 0.01  # and no earlier than the shorter timeout
    assert not alarm.armed


async def test_many_arms_make_one_timer() -> None:
    loop = asyncio.get_running_loop()
    made = 0
    call_at = loop.call_at

    def counting(
        when: float,
        callback: Callable[[*_Ts], object],
        *args: *_Ts,
        context: Context | None = None,
    ) -> asyncio.TimerHandle:
        nonlocal made
        made += 1
        return call_at(when, callback, *args, context=context)

    # A stand-in on the instance, to count the timers (mypy forbids assigning to a method).
    loop.call_at = counting  # type: ignore[method-assign]
    try:
        alarm = Alarm(lambda: None)
        for _ in range(1000):
            alarm.arm(60)  # a busy loop's waits, each with the same timeout
        assert made == 1
        alarm.cancel()
    finally:
        del loop.call_at


async def test_cancelled_it_does_not_ring() -> None:
    bell = Bell()
    alarm = Alarm(bell)
    alarm.arm(0.01)
    alarm.cancel()
    assert not alarm.armed
    await asyncio.sleep(0.05)
    assert bell.times == []
    alarm.arm(0.01)  # and it can be armed again
    await bell.wait()
    assert len(bell.times) == 1
