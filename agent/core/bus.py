"""The event bus: typed events fanned out to bounded subscriptions and cheap observers.

Subscribers get their own ``Channel`` with the overflow policy they declare, so a slow
subscriber can only lose (or delay) its own events. Control events (``Lane.CONTROL``) reach every
subscription whatever its type filter, overtake its data and are never dropped. Observers are
plain callables run inline for metrics and logging; one that raises is disabled and logged once.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from agent.core.channel import Channel, Overflow
from agent.core.events import Event, Lane, StageLatency

log = logging.getLogger(__name__)

Observer = Callable[[Event], None]


@dataclass(eq=False)
class Subscription:
    name: str
    types: tuple[type[Event], ...]  # empty: every event
    channel: Channel[Event]

    def wants(self, event: Event) -> bool:
        # Control events reach every subscription: no stage can miss an interrupt or a stop.
        return event.lane is Lane.CONTROL or not self.types or isinstance(event, self.types)


class EventBus:
    def __init__(self) -> None:
        self._subs: list[Subscription] = []
        self._observers: list[Observer] = []
        self.turn = 0  # the current turn number, stamped on latency reports

    def subscribe(self, name: str, *types: type[Event], maxsize: int = 256,
                  overflow: Overflow = Overflow.DROP_NEW) -> Subscription:
        sub = Subscription(name, types, Channel(maxsize, overflow, name))
        self._subs.append(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.channel.close()
        with contextlib.suppress(ValueError):
            self._subs.remove(sub)

    def observe(self, observer: Observer) -> None:
        self._observers.append(observer)

    async def publish(self, event: Event) -> None:
        """Deliver to every subscription; waits only for subscriptions that declared WAIT."""
        self._notify(event)
        for sub in self._targets(event):
            if event.lane is Lane.DATA and sub.channel.overflow is Overflow.WAIT:
                await sub.channel.put(event)
            else:
                _deliver_nowait(sub.channel, event)

    def publish_nowait(self, event: Event) -> None:
        """For callers outside a coroutine: WAIT subscriptions that are full drop the event."""
        self._notify(event)
        for sub in self._targets(event):
            _deliver_nowait(sub.channel, event)

    def _targets(self, event: Event) -> list[Subscription]:
        return [s for s in self._subs if s.wants(event) and not s.channel.closed]

    def _notify(self, event: Event) -> None:
        for obs in list(self._observers):
            try:
                obs(event)
            except Exception:  # an observer must never break the session
                log.exception("observer %r failed and is disabled", obs)
                self._observers.remove(obs)

    def flush(self) -> None:
        """Drop pending data in every subscription (used on interrupt)."""
        for sub in self._subs:
            sub.channel.flush()

    def close(self) -> None:
        for sub in self._subs:
            sub.channel.close()

    def depths(self) -> dict[str, int]:
        return {s.name: len(s.channel) for s in self._subs}

    @contextlib.contextmanager
    def measure(self, stage: str) -> Iterator[None]:
        """Report how long the block took as a ``StageLatency`` event to observers."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.publish_nowait(StageLatency(stage=stage, seconds=time.perf_counter() - start,
                                             turn=self.turn))


def _deliver_nowait(channel: Channel[Event], event: Event) -> None:
    if event.lane is Lane.CONTROL:
        channel.put_control(event)
    elif channel.overflow is Overflow.WAIT and len(channel) >= channel.maxsize:
        channel.dropped += 1
    else:
        channel.put_nowait(event)
