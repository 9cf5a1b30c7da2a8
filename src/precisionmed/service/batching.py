"""Micro-batching: requests for the same model that queue are predicted in one call.

The service's endpoints are synchronous (FastAPI runs them in its thread pool), so the batcher
is a queue and one worker thread per model rather than an asyncio task: a request thread puts
its inputs on the queue and waits on a future; the worker takes the first waiting request, adds
those that arrive within ``max_wait_s`` up to ``max_batch`` inputs, predicts them in one call
and hands each request its own records. Written by hand because no library in the stack batches
calls from threads (the dozen lines are simpler than an asyncio bridge around sync endpoints).
When a batch fails (one bad upload), each of its requests is predicted alone, so only the bad
one gets the error.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Any


class MicroBatcher:
    """Collect concurrent ``predict(inputs)`` calls into batched calls of ``fn``.

    Parameters
    ----------
    fn : callable
        ``fn(list of inputs) -> list of results``, one result per input, in order.
    max_batch : int
        Largest number of inputs per call of ``fn``.
    max_wait_s : float
        How long the first request of a batch waits for others (seconds).
    name : str
        Names the worker thread.
    """

    def __init__(
        self, fn: Callable[[list[Any]], Sequence[Any]], max_batch: int, max_wait_s: float,
        name: str = "model",
    ) -> None:  # fmt: skip
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.batch_sizes: list[int] = []  # inputs per call of fn, most recent last (bounded)
        self._queue: queue.Queue[tuple[list[Any], Future[list[Any]]] | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name=f"batcher-{name}", daemon=True)
        self._worker.start()

    def predict(self, inputs: Sequence[Any]) -> list[Any]:
        """Results of ``fn`` for ``inputs`` (raises what ``fn`` raised on them alone)."""
        future: Future[list[Any]] = Future()
        self._queue.put((list(inputs), future))
        return future.result()

    def close(self) -> None:
        """Stop the worker once the queued requests are answered."""
        self._queue.put(None)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            size = len(first[0])
            deadline = time.monotonic() + self.max_wait_s
            stop = False
            while size < self.max_batch:
                try:
                    item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
                size += len(item[0])
            self._answer(batch)
            if stop:
                return

    def _answer(self, batch: list[tuple[list[Any], Future[list[Any]]]]) -> None:
        inputs = [x for items, _ in batch for x in items]
        try:
            results = list(self.fn(inputs)) if len(batch) > 1 else None
        except Exception:  # one bad input fails the batch: answer each request alone
            results = None
        if results is not None and len(results) == len(inputs):
            self.batch_sizes = [*self.batch_sizes[-999:], len(inputs)]
            start = 0
            for items, future in batch:
                future.set_result(results[start : start + len(items)])
                start += len(items)
            return
        for items, future in batch:
            try:
                answer = list(self.fn(items))
                self.batch_sizes = [*self.batch_sizes[-999:], len(items)]
                future.set_result(answer)
            except BaseException as exc:  # handed to the waiting request thread
                future.set_exception(exc)
