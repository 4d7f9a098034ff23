"""The plugin host's isolation: a plugin that raises, overruns, blocks in a thread or blocks the
loop is logged once, disabled or restarted, and the conversation and the other plugins go on with
unchanged latency. Timing runs in virtual time (plugins.testing.VirtualClockLoop) except the
latency comparison, which is a ratio of medians on the real loop."""

import asyncio
import logging
import statistics
import threading
import time

import pytest

from agent.core.bus import EventBus
from agent.core.errors import UserError
from agent.core.events import AgentEmotion, Interrupt, Notice, PluginCommand, Stop, Transcript, UserText
from agent.core.face_state import FaceState
from agent.core.tasks import TaskOwner
from plugins.api import BlockingPlugin, Capabilities, Plugin
from plugins.host import PluginHost, Timeouts
from plugins.testing import run_virtual


class Recorder(Plugin):
    name = "good"
    capabilities = Capabilities(events={"UserText"})

    def __init__(self, settings=None):
        super().__init__(settings)
        self.seen: list[str] = []

    async def on_event(self, event):
        self.seen.append(event.text)


class Raises(Recorder):
    name = "raises"

    async def on_event(self, event):
        raise RuntimeError("driver exploded")


class Hangs(Recorder):
    name = "hangs"

    async def on_event(self, event):
        await asyncio.sleep(3600)


class BlocksLoop(Recorder):
    """What ``time.sleep(5)`` inside a coroutine looks like (in virtual time)."""

    name = "blocks_loop"

    async def on_event(self, event):
        asyncio.get_running_loop().advance(5.0)


class BlocksThread(BlockingPlugin):
    """A synchronous driver that hangs; it runs in its own thread, so only it waits."""

    name = "blocks_thread"
    capabilities = Capabilities(events={"UserText"})
    release = threading.Event()

    def handle_event(self, event):
        self.release.wait(10)


def bad_plugins():
    return [Raises(), Hangs(), BlocksLoop(), BlocksThread()]


async def drive(host, bus, n=20, gap=0.1):
    conversation = bus.subscribe("conversation", UserText, maxsize=1000)
    for i in range(n):
        await bus.publish(UserText(text=str(i)))
        await asyncio.sleep(gap)
    return [conversation.channel.get_nowait().text for _ in range(len(conversation.channel))]


def test_failing_plugins_are_disabled_once_and_the_rest_goes_on(caplog):
    caplog.set_level(logging.ERROR, logger="plugins.host")

    async def main():
        bus, owner = EventBus(), TaskOwner("session")
        notices = bus.subscribe("ui", Notice)
        host = PluginHost(bus, owner, "disable", timeouts=Timeouts(event=0.1, stop=0.05))
        good = Recorder()
        for p in [good, *bad_plugins()]:
            host.add(p)
        await host.start(strict=True)
        heard = await drive(host, bus)
        status = host.status()
        BlocksThread.release.set()
        await host.stop()
        await owner.aclose()
        texts = [notices.channel.get_nowait().text for _ in range(len(notices.channel))]
        return good.seen, heard, status, texts

    seen, heard, status, notices = run_virtual(main)
    expected = [str(i) for i in range(20)]
    assert heard == expected  # the conversation got every event
    assert seen == expected  # so did the well-behaved plugin, in order
    assert status == {"good": "running", "raises": "disabled", "hangs": "disabled",
                      "blocks_loop": "disabled", "blocks_thread": "disabled"}
    for name, why in [("raises", "on_event raised RuntimeError: driver exploded"),
                      ("hangs", "on_event did not finish within 0.1s"),
                      ("blocks_loop", "on_event blocked the event loop for 5.00s"),
                      ("blocks_thread", "on_event did not finish within 0.1s")]:
        lines = [r.getMessage() for r in caplog.records if f"plugin {name} failed" in r.getMessage()]
        assert len(lines) == 1 and why in lines[0], (name, lines)  # logged once, with its name
        assert any(f"plugin {name} failed" in n for n in notices)
    BlocksThread.release.clear()


def test_restart_policy_gives_a_fresh_instance_then_gives_up(caplog):
    class Flaky(Recorder):
        name = "flaky"
        instances = 0

        def __init__(self, settings=None):
            super().__init__(settings)
            Flaky.instances += 1
            self.number = Flaky.instances

        async def on_event(self, event):
            if event.text == "boom":
                raise ValueError("bad frame")
            self.seen.append(event.text)

    async def main():
        bus, owner = EventBus(), TaskOwner("session")
        host = PluginHost(bus, owner, "restart", max_restarts=2, restart_backoff=0.5)
        host.add(Flaky())
        await host.start()
        await bus.publish(UserText(text="a"))
        await bus.publish(UserText(text="boom"))
        await asyncio.sleep(2)
        after_first = host.status()["flaky"], host.plugin("flaky").number
        await bus.publish(UserText(text="b"))
        await asyncio.sleep(0.1)
        seen_b = list(host.plugin("flaky").seen)
        for _ in range(2):
            await bus.publish(UserText(text="boom"))
            await asyncio.sleep(5)
        final = host.status()["flaky"], host.stats("flaky")["restarts"]
        await host.stop()
        await owner.aclose()
        return after_first, seen_b, final

    after_first, seen_b, final = run_virtual(main)
    assert after_first == ("running", 2)
    assert seen_b == ["b"]
    assert final == ("disabled", 2)
    msgs = [r.getMessage() for r in caplog.records if "plugin flaky failed" in r.getMessage()]
    assert [m.rsplit("; ", 1)[1] for m in msgs] == ["restarting (1/2)", "restarting (2/2)", "disabled"]


async def test_conversation_latency_unchanged_by_misbehaving_plugins():
    """Publish → conversation-receipt latency with four good plugins vs one good and three bad
    ones (one raising, one slow, one stuck in its thread): the medians stay within a ratio."""

    class Slow(Recorder):
        name = "slow"

        async def on_event(self, event):
            await asyncio.sleep(0.05)  # far slower than the events arrive, within its timeout

    class Quiet(Recorder):
        async def on_event(self, event):
            self.seen.append(event.text)

    async def measure(plugins):
        bus, owner = EventBus(), TaskOwner("session")
        host = PluginHost(bus, owner, timeouts=Timeouts(event=30.0, stop=0.2))
        for i, p in enumerate(plugins):
            host.add(p, name=f"p{i}")
        await host.start()
        conversation = bus.subscribe("conversation", UserText)
        received: asyncio.Queue[float] = asyncio.Queue()

        async def converse():  # the session's own consumer, a task like any other stage
            async for _ in conversation.channel:
                received.put_nowait(time.perf_counter())

        owner.spawn(converse(), "conversation")
        samples = []
        for i in range(300):
            start = time.perf_counter()
            await bus.publish(UserText(text=str(i)))
            samples.append(await received.get() - start)
        status = host.status()
        BlocksThread.release.set()
        await host.stop(deadline=0.5)
        await owner.aclose()
        BlocksThread.release.clear()
        return statistics.median(samples[50:]), status

    await measure([Quiet() for _ in range(4)])  # warm-up
    base, _ = await measure([Quiet() for _ in range(4)])
    bad, status = await measure([Quiet(), Raises(), Slow(), BlocksThread()])
    assert status["p1"] == "disabled" and status["p2"] == "running" and status["p3"] == "running"
    print(f"median publish→receipt: good plugins {base * 1e6:.0f} µs, misbehaving {bad * 1e6:.0f} µs")
    assert bad / base < 3.0, (bad, base)


def test_face_frames_latest_wins_at_the_plugins_rate():
    class Face(Plugin):
        name = "face"
        capabilities = Capabilities(face_rate=10)

        def __init__(self):
            super().__init__()
            self.got: list[float] = []  # the frames' own times
            self.at: list[float] = []  # when they were delivered

        async def on_face(self, state):
            self.got.append(state.t)
            self.at.append(asyncio.get_running_loop().time())

    class SlowFace(Face):
        name = "slow_face"
        capabilities = Capabilities(face_rate=60)

        async def on_face(self, state):
            await super().on_face(state)
            await asyncio.sleep(0.2)  # slower than 60 Hz, within the face timeout

    async def main():
        bus, owner = EventBus(), TaskOwner("session")
        host = PluginHost(bus, owner, timeouts=Timeouts(face=0.5))
        fast, slow = Face(), SlowFace()
        host.add(fast)
        host.add(slow)
        await host.start()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for i in range(121):  # 2 s at 60 fps
            await asyncio.sleep(t0 + i / 60 - loop.time())
            host.face(FaceState(t=i / 60))
        await asyncio.sleep(1)
        status = host.status()
        await host.stop()
        await owner.aclose()
        return fast, slow, status

    fast, slow, status = run_virtual(main)
    assert status == {"face": "running", "slow_face": "running"}
    assert 20 <= len(fast.got) <= 22  # 10 Hz over 2 s, plus the trailing frame
    assert fast.got[-1] == pytest.approx(2.0)  # the last frame always arrives
    assert all(b - a >= 0.1 - 1e-3 for a, b in zip(fast.at, fast.at[1:]))  # never faster than asked
    # the slow plugin gets the newest frame each time, never a backlog of stale ones
    assert 9 <= len(slow.got) <= 12 and slow.got[-1] == pytest.approx(2.0)
    assert all(abs(at - t0 - t) <= 1 / 60 + 1e-3 for at, t, t0 in
               zip(slow.at, slow.got, [slow.at[0]] * len(slow.got)) if t < 2.0)


def test_events_queue_is_bounded_per_plugin():
    class Stuck(Recorder):
        name = "stuck"
        gate: asyncio.Event

        async def on_event(self, event):
            await self.gate.wait()
            self.seen.append(event.text)

    async def main():
        bus, owner = EventBus(), TaskOwner("session")
        host = PluginHost(bus, owner, event_queue=8, timeouts=Timeouts(event=100))
        p = Stuck()
        p.gate = asyncio.Event()
        host.add(p)
        await host.start()
        for i in range(100):
            await bus.publish(UserText(text=str(i)))
        depth = bus.depths()["plugin:stuck"]
        p.gate.set()
        await asyncio.sleep(0.1)
        stats = host.stats("stuck")
        await host.stop()
        await owner.aclose()
        return depth, stats, p.seen

    depth, stats, seen = run_virtual(main)
    assert depth == 8
    assert stats["events_dropped"] == 92 and seen == [str(i) for i in range(8)]


def test_only_declared_event_types_arrive_even_control_ones():
    class Emo(Recorder):
        name = "emo"
        capabilities = Capabilities(events={"AgentEmotion", "Interrupt", "NoSuchEvent"})

        async def on_event(self, event):
            self.seen.append(event.type)

    async def main():
        bus, owner = EventBus(), TaskOwner("session")
        host = PluginHost(bus, owner)
        p = Emo()
        host.add(p)
        await host.start()
        for ev in [UserText(text="x"), AgentEmotion(label="joy", vad=(0.8, 0.5, 0.4), intensity=1.0),
                   Interrupt(), Stop(), Transcript(text="y")]:
            await bus.publish(ev)
        await asyncio.sleep(0.1)
        await host.stop()
        await owner.aclose()
        return p.seen

    assert run_virtual(main) == ["Interrupt", "AgentEmotion"]  # control overtakes data


def test_commands_interrupts_rate_limit_and_undeclared_reach():
    class Talker(Plugin):
        name = "talker"
        capabilities = Capabilities(events={"UserText"}, sends_commands=True)

        async def on_event(self, event):
            if event.text == "stop":
                await self.ctx.send("stop_talking")
            else:
                self.sent = [await self.ctx.send("touched", where="head") for _ in range(50)]

    class Sneaky(Plugin):
        name = "sneaky"
        capabilities = Capabilities(events={"UserText"})

        async def on_event(self, event):
            await self.ctx.send("say", text="hello")

    async def main():
        bus, owner = EventBus(), TaskOwner("session")
        out = bus.subscribe("session", PluginCommand, maxsize=1000)
        host = PluginHost(bus, owner)
        talker = Talker()
        host.add(talker)
        host.add(Sneaky())
        await host.start()
        await bus.publish(UserText(text="stop"))
        await bus.publish(UserText(text="spam"))
        await asyncio.sleep(0.1)
        got = [out.channel.get_nowait() for _ in range(len(out.channel))]
        status, err = host.status(), host.error("sneaky")
        await host.stop()
        await owner.aclose()
        return talker.sent, got, status, err

    sent, got, status, err = run_virtual(main)
    assert isinstance(got[0], Interrupt) and got[0].reason == "plugin:talker"
    assert [g.command for g in got[1:] if isinstance(g, PluginCommand)][:2] == ["stop_talking", "touched"]
    assert sent.count(True) == 19 and sent.count(False) == 31  # burst of 20, one used by stop_talking
    assert status["sneaky"] == "disabled" and "did not declare Capabilities(sends_commands=True)" in err


def test_start_refusal_is_one_line_and_others_still_start():
    class Refuses(Plugin):
        name = "refuses"

        async def start(self, ctx):
            raise UserError("no robot on /dev/ttyUSB0; plug it in or use transport=sim")

    async def main(strict):
        bus, owner = EventBus(), TaskOwner("session")
        notices = bus.subscribe("ui", Notice)
        host = PluginHost(bus, owner)
        host.add(Refuses())
        host.add(Recorder())
        try:
            await host.start(strict=strict)
        except UserError as exc:
            return str(exc)
        finally:
            await host.stop()
            await owner.aclose()
        return host.status(), notices.channel.get_nowait().text

    status, notice = run_virtual(lambda: main(False))
    assert status == {"refuses": "disabled", "good": "stopped"}
    assert notice == "plugin refuses: no robot on /dev/ttyUSB0; plug it in or use transport=sim"
    assert run_virtual(lambda: main(True)) == notice


def test_stop_keeps_its_deadline_when_a_plugin_will_not_stop():
    class WontStop(Recorder):
        name = "wontstop"

        async def stop(self):
            await asyncio.sleep(3600)

    async def main():
        bus, owner = EventBus(), TaskOwner("session")
        host = PluginHost(bus, owner)
        host.add(WontStop())
        host.add(Recorder())
        await host.start()
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await host.stop(deadline=1.0)
        took = loop.time() - t0
        await owner.aclose()
        return took, host.status(), owner.running

    took, status, running = run_virtual(main)
    assert took == pytest.approx(1.0, abs=0.05)
    assert status == {"wontstop": "stopped", "good": "stopped"} and running == 0


def test_incompatible_api_version_is_refused():
    from plugins.registry import PluginError, check_api_version

    class Old(Plugin):
        name = "old"
        api_version = "0.3"

    class WantsARobotMicrophone(Plugin):  # 1.0 offered robot microphones the session never used
        name = "robot"
        api_version = "1.0"

    with pytest.raises(PluginError, match="written for plugin API 0.3; this agent speaks 2.0"):
        check_api_version("old", Old)
    with pytest.raises(PluginError, match="written for plugin API 1.0; this agent speaks 2.0"):
        check_api_version("robot", WantsARobotMicrophone)
    check_api_version("new", type("New", (Plugin,), {"api_version": "2.3"}))  # minor versions only add


def test_blocking_plugin_and_speech_stream_work_in_order():
    from plugins.testing import Timeline, fake_speech, run_plugin

    class Driver(BlockingPlugin):
        """Synchronous driver code: each call runs in the plugin's thread, in order."""

        name = "driver"
        capabilities = Capabilities(events={"AgentEmotion"}, speech_audio=True)

        def __init__(self):
            super().__init__()
            self.calls: list[str] = []
            self.threads: set[str] = set()

        def open(self):
            self.calls.append("open")

        def handle_event(self, event):
            self.threads.add(threading.current_thread().name)
            self.calls.append(event.label)

        def handle_speech(self, chunk, start_t):
            self.calls.append(f"speech:{chunk.text}:{len(chunk.words)}")

        def close(self):
            self.calls.append("close")

    d = Driver()
    run = run_plugin(d, Timeline()
                     .at(0.0, AgentEmotion(label="joy", vad=(0.8, 0.5, 0.4), intensity=0.7))
                     .speech(0.5, fake_speech("hello there friend", seconds=1.2))
                     .at(2.0, AgentEmotion(label="surprise", vad=(0.4, 0.67, -0.13), intensity=0.5)))
    assert run.status == "stopped" and not run.errors
    assert d.calls == ["open", "joy", "speech:hello there friend:3", "surprise", "close"]
    assert d.threads and all(t.startswith("plugin-driver") for t in d.threads)


def test_flush_drops_undelivered_speech_on_barge_in():
    from plugins.testing import fake_speech

    class Listener(Plugin):
        name = "listener"
        capabilities = Capabilities(speech_audio=True)

        def __init__(self):
            super().__init__()
            self.heard: list[str] = []

        async def on_speech(self, chunk, start_t):
            self.heard.append(chunk.text)
            await asyncio.sleep(0.5)  # e.g. a robot mouthing the chunk

    async def main():
        bus, owner = EventBus(), TaskOwner("session")
        host = PluginHost(bus, owner)
        p = Listener()
        host.add(p)
        await host.start()
        for text in ("one", "two", "three"):
            host.speech(fake_speech(text), 0.0)
        await asyncio.sleep(0.1)
        dropped = host.flush()  # the user barged in during "one"
        await asyncio.sleep(2)
        await host.stop()
        await owner.aclose()
        return dropped, p.heard

    assert run_virtual(main) == (2, ["one"])
