"""The event loop's rules: bounded queues obey their overflow policy, control overtakes data,
owned tasks stop within their deadline, observers see stage latency."""

import asyncio

import pytest

from agent.core.bus import EventBus
from agent.core.channel import Channel, ChannelClosed, Overflow
from agent.core.events import Interrupt, StageLatency, Stop, Transcript, UserText
from agent.core.tasks import TaskOwner
from agent.turn_state import Turn, TurnState


async def test_control_overtakes_queued_data():
    ch: Channel[object] = Channel(8, Overflow.WAIT)
    for i in range(5):
        await ch.put(UserText(text=str(i)))
    ch.put_control(Interrupt())
    first = await ch.get()
    assert isinstance(first, Interrupt)
    assert [(await ch.get()).text for _ in range(5)] == ["0", "1", "2", "3", "4"]


async def test_latest_policy_keeps_newest_and_counts_drops():
    ch: Channel[int] = Channel(2, Overflow.LATEST)
    for i in range(10):
        ch.put_nowait(i)
    assert ch.dropped == 8
    assert [await ch.get(), await ch.get()] == [8, 9]


async def test_drop_new_policy_drops_incoming():
    ch: Channel[int] = Channel(2, Overflow.DROP_NEW)
    assert [ch.put_nowait(i) for i in range(4)] == [True, True, False, False]
    assert [await ch.get(), await ch.get()] == [0, 1]


async def test_wait_policy_blocks_producer_until_consumer_reads():
    ch: Channel[int] = Channel(1, Overflow.WAIT)
    await ch.put(1)
    blocked = asyncio.ensure_future(ch.put(2))
    await asyncio.sleep(0)
    assert not blocked.done()
    assert await ch.get() == 1
    await asyncio.wait_for(blocked, 1)
    assert await ch.get() == 2


async def test_control_never_dropped_even_when_data_full():
    ch: Channel[object] = Channel(1, Overflow.DROP_NEW)
    ch.put_nowait(UserText(text="a"))
    for _ in range(100):
        ch.put_control(Stop())
    assert len(ch) == 101


async def test_flush_drops_data_keeps_control():
    ch: Channel[object] = Channel(4, Overflow.LATEST)
    ch.put_nowait(UserText(text="a"))
    ch.put_control(Interrupt())
    assert ch.flush() == 1
    assert isinstance(await ch.get(), Interrupt)
    assert ch.get_nowait() is None


async def test_closed_channel_ends_iteration():
    ch: Channel[int] = Channel(4, Overflow.WAIT)
    ch.put_nowait(1)
    ch.close()
    assert [x async for x in ch] == [1]
    with pytest.raises(ChannelClosed):
        ch.put_nowait(2)


async def test_bus_fans_out_by_type_and_control_overtakes(no_leaked_tasks):
    bus = EventBus()
    texts = bus.subscribe("texts", UserText, maxsize=4, overflow=Overflow.DROP_NEW)
    everything = bus.subscribe("all", maxsize=100)
    for i in range(6):
        await bus.publish(UserText(text=str(i)))
    await bus.publish(Transcript(text="hello"))
    await bus.publish(Interrupt())
    assert isinstance(await texts.channel.get(), Interrupt)  # overtakes four queued texts
    assert texts.channel.dropped == 2
    assert len(everything.channel) == 8


async def test_slow_subscriber_cannot_stall_others(no_leaked_tasks):
    bus = EventBus()
    bus.subscribe("stuck", maxsize=1, overflow=Overflow.LATEST)  # never read
    fast = bus.subscribe("fast", maxsize=1000)
    for i in range(500):
        await asyncio.wait_for(bus.publish(UserText(text=str(i))), 1)
    assert len(fast.channel) == 500


async def test_observers_get_stage_latency_and_bad_observer_is_disabled():
    bus = EventBus()
    seen: list[StageLatency] = []
    bus.observe(lambda e: seen.append(e) if isinstance(e, StageLatency) else None)

    def broken(_e):
        raise RuntimeError("boom")

    bus.observe(broken)
    with bus.measure("asr"):
        pass
    with bus.measure("llm"):
        pass
    assert [e.stage for e in seen] == ["asr", "llm"]
    assert all(e.seconds >= 0 for e in seen)
    assert broken not in bus._observers


async def test_owner_stops_stuck_tasks_within_deadline(no_leaked_tasks):
    owner = TaskOwner("t")

    async def ignores_cancel():
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            await asyncio.sleep(10)  # misbehaves: swallows the cancel and keeps working

    async def polite():
        await asyncio.sleep(10)

    stuck_task = owner.spawn(ignores_cancel(), "stubborn")
    owner.spawn(polite(), "polite")
    await asyncio.sleep(0)  # let both start, so the stubborn one is inside its loop
    loop = asyncio.get_running_loop()
    start = loop.time()
    stuck = await owner.aclose(deadline=0.05)
    assert loop.time() - start < 1.0
    assert stuck == ["t/stubborn"]
    stuck_task.cancel()  # a second cancel lands inside the inner sleep
    await asyncio.gather(stuck_task, return_exceptions=True)


async def test_owner_reports_failures_once(no_leaked_tasks):
    errors = []
    owner = TaskOwner("t", on_error=lambda name, exc: errors.append((name, str(exc))))

    async def fails():
        raise ValueError("bad")

    owner.spawn(fails(), "worker")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert errors == [("t/worker", "bad")]
    await owner.aclose()
    with pytest.raises(RuntimeError):
        owner.spawn(fails(), "late")


def test_turn_state_machine_is_table_driven():
    changes = []
    turn = Turn(lambda a, b: changes.append((a.value, b.value)))
    assert turn.to(TurnState.THINKING)
    assert not turn.to(TurnState.THINKING)  # no-op
    assert turn.to(TurnState.SPEAKING)
    assert turn.to(TurnState.INTERRUPTED)
    assert not turn.to(TurnState.SPEAKING)  # an interrupted utterance never resumes
    assert turn.to(TurnState.LISTENING)
    assert turn.to(TurnState.STOPPED)
    assert not turn.to(TurnState.LISTENING)
    assert changes == [("listening", "thinking"), ("thinking", "speaking"),
                       ("speaking", "interrupted"), ("interrupted", "listening"),
                       ("listening", "stopped")]


def test_event_json_redacts_pii():
    e = Transcript(text="my secret")
    assert e.to_dict()["text"] == "my secret"
    d = e.to_dict(redact=True)
    assert d["text"] == "<redacted>" and d["type"] == "Transcript"
