"""The loop monitor: lag from a heartbeat, and a watchdog that names what blocks the loop."""

import asyncio
import time

from agent.core.loop_monitor import LoopMonitor


def _blocking_handler(seconds: float) -> None:
    time.sleep(seconds)  # what a plugin that blocks the loop does


async def test_a_handler_that_blocks_the_loop_is_named_while_it_blocks():
    monitor = LoopMonitor(interval=0.01, stall=0.1)
    heart = asyncio.create_task(monitor.run())
    await asyncio.sleep(0.05)
    named: list[str] = []
    monitor.on_stall = lambda seconds, where: named.append(where)
    _blocking_handler(0.4)
    await asyncio.sleep(0.05)
    heart.cancel()
    await asyncio.gather(heart, return_exceptions=True)
    (seconds, where), = monitor.stalls
    assert seconds >= 0.1 and "test_loop_monitor.py" in where and "_blocking_handler" in where
    assert named == [where]  # told on the loop, once
    assert max(monitor.lags_ms) >= 300 and monitor.percentile(50) < 50


async def test_a_busy_loop_is_blocked_whatever_else_runs():
    monitor = LoopMonitor(interval=0.01, stall=0.1)
    heart = asyncio.create_task(monitor.run())
    await asyncio.sleep(0.03)
    end = time.monotonic() + 0.3
    while time.monotonic() < end:  # CPU work on the loop's own thread
        pass
    await asyncio.sleep(0.02)
    heart.cancel()
    await asyncio.gather(heart, return_exceptions=True)
    assert monitor.stalls and not monitor.starved
