"""A bounded queue with a declared overflow policy and a control lane that overtakes data.

The rule, in one sentence: ``get()`` returns any pending control item before any data item,
control items are never dropped, and data items obey the channel's ``Overflow`` policy.
"""

from __future__ import annotations

import asyncio
import collections
import enum
from typing import Generic, TypeVar

T = TypeVar("T")


class Overflow(enum.Enum):
    WAIT = "wait"  # the producer waits for room (audio: never drop samples)
    LATEST = "latest"  # drop the oldest item, keep the newest (video, face frames)
    DROP_NEW = "drop_new"  # drop the incoming item (best-effort observers)


class ChannelClosed(Exception):
    pass


class Channel(Generic[T]):
    def __init__(self, maxsize: int, overflow: Overflow, name: str = "channel") -> None:
        if maxsize < 1:
            raise ValueError("a channel holds at least one item")
        self.name = name
        self.maxsize = maxsize
        self.overflow = overflow
        self.dropped = 0
        self.peak = 0
        self._data: collections.deque[T] = collections.deque()
        self._control: collections.deque[T] = collections.deque()
        self._readable = asyncio.Event()
        self._writable = asyncio.Event()
        self._writable.set()
        self._closed = False

    # ------------------------------------------------------------------ producer side
    async def put(self, item: T) -> None:
        while self.overflow is Overflow.WAIT and len(self._data) >= self.maxsize:
            if self._closed:
                raise ChannelClosed(self.name)
            self._writable.clear()
            await self._writable.wait()
        self.put_nowait(item)

    def put_nowait(self, item: T) -> bool:
        """Add a data item without waiting; returns False if an item was dropped."""
        if self._closed:
            raise ChannelClosed(self.name)
        kept = True
        if len(self._data) >= self.maxsize:
            if self.overflow is Overflow.DROP_NEW:
                self.dropped += 1
                return False
            if self.overflow is Overflow.WAIT:
                raise asyncio.QueueFull(self.name)
            self._data.popleft()
            self.dropped += 1
            kept = False
        self._data.append(item)
        self.peak = max(self.peak, len(self._data))
        self._readable.set()
        return kept

    def put_control(self, item: T) -> None:
        """Control items (interrupt, stop) overtake data and are never dropped."""
        if self._closed:
            return
        self._control.append(item)
        self._readable.set()

    # ------------------------------------------------------------------ consumer side
    async def get(self) -> T:
        while True:
            if self._control:
                return self._control.popleft()
            if self._data:
                item = self._data.popleft()
                self._writable.set()
                return item
            if self._closed:
                raise ChannelClosed(self.name)
            self._readable.clear()
            await self._readable.wait()

    def get_nowait(self) -> T | None:
        if self._control:
            return self._control.popleft()
        if self._data:
            self._writable.set()
            return self._data.popleft()
        return None

    def flush(self) -> int:
        """Drop every pending data item (control stays); returns how many were dropped."""
        n = len(self._data)
        self._data.clear()
        self._writable.set()
        return n

    def close(self) -> None:
        self._closed = True
        self._readable.set()
        self._writable.set()

    @property
    def closed(self) -> bool:
        return self._closed

    def __len__(self) -> int:
        return len(self._data) + len(self._control)

    def __aiter__(self) -> Channel[T]:
        return self

    async def __anext__(self) -> T:
        try:
            return await self.get()
        except ChannelClosed:
            raise StopAsyncIteration from None
