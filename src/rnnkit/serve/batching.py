"""Micro-batching: concurrent requests to one model run together.

The first request to arrive opens a batch and takes every request already waiting (those
that arrived while the model was busy). A request alone runs at once: waiting would only
delay it. When others came with it, more are likely on their way: the batch then waits
for them until it holds ``max_batch`` requests or ``max_delay`` seconds have passed since
it opened. ``work`` runs once on all of them, in the model's own worker thread, and each
request gets its own result back. With ``max_batch = 1`` every request runs alone.

    batcher = MicroBatcher(work, max_batch=64, max_delay=0.001, executor=executor)
    result = await batcher.submit(item)      # work([item, ...])[k] for this request's k

A failure of ``work`` (a bad input among them) is retried item by item, so that one bad
request cannot fail the others it was batched with.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from typing import Any


class MicroBatcher:
    def __init__(
        self,
        work: Callable[[Sequence[Any]], Sequence[Any]],
        max_batch: int,
        max_delay: float,
        executor: Executor,
        on_batch: Callable[[int], None] = lambda size: None,
    ) -> None:
        if max_batch < 1 or max_delay < 0:
            raise ValueError(
                f"max_batch must be >= 1 and max_delay >= 0, got {max_batch}, {max_delay}"
            )
        self.work, self.max_batch, self.max_delay = work, max_batch, max_delay
        self.executor, self.on_batch = executor, on_batch
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue | None = None
        self._runner: asyncio.Task | None = None

    async def submit(self, item: Any) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # made in the loop that serves (a test may start another)
            self._loop, self._queue = loop, asyncio.Queue()
            self._runner = loop.create_task(self._run())
        done = loop.create_future()
        await self._queue.put((item, done))
        return await done

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = [await self._queue.get()]
            deadline = loop.time() + self.max_delay
            await asyncio.sleep(0)  # let the requests that came with it join the queue
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            while 1 < len(batch) < self.max_batch:
                left = deadline - loop.time()
                if left <= 0 and self._queue.empty():
                    break
                try:
                    batch.append(await asyncio.wait_for(self._queue.get(), max(left, 0)))
                except TimeoutError:
                    break
            self.on_batch(len(batch))
            await self._run_batch(loop, batch)

    async def _run_batch(self, loop, batch: list) -> None:
        try:
            results = await loop.run_in_executor(
                self.executor, self.work, [item for item, _ in batch]
            )
        except Exception as error:  # noqa: BLE001 - handed to the request that caused it
            if len(batch) == 1:
                _settle(batch[0][1], error=error)
                return
            for entry in batch:  # which one failed? each alone
                await self._run_batch(loop, [entry])
            return
        for (_, done), result in zip(batch, results, strict=True):
            _settle(done, result=result)


def _settle(done: asyncio.Future, result: Any = None, error: Exception | None = None) -> None:
    if done.cancelled():  # the client went away
        return
    if error is not None:
        done.set_exception(error)
    else:
        done.set_result(result)
