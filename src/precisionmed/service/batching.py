"""Micro-batching: requests for the same model that queue are predicted in one call.

The service's endpoints are synchronous (FastAPI runs them in its thread pool), so the batcher
works with threads: a request puts its inputs in a queue; if no other request is predicting, it
becomes the *leader*: it waits up to ``max_wait_s`` for others to fill a batch of ``max_batch``
inputs, predicts the batch in one call in its own thread and hands each request its records;
requests that arrive meanwhile wait and are predicted together by the next leader (one of them).
A request alone is therefore predicted in its own thread, with no hand-over to a worker thread
and back (on a busy 2-core machine each hand-over waited for the scheduler, which cost more than
the prediction). Written by hand because no library in the stack batches calls from threads.
When a batch fails (one bad upload), each of its requests is predicted alone, so only the bad one
gets the error.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any


class _Request:
    """One ``predict`` call waiting in the queue: its inputs, then its results or error."""

    __slots__ = ("inputs", "done", "results", "error")

    def __init__(self, inputs: list[Any]) -> None:
        self.inputs = inputs
        self.done = False
        self.results: list[Any] = []
        self.error: BaseException | None = None

    def outcome(self) -> list[Any]:
        if self.error is not None:
            raise self.error
        return self.results


class MicroBatcher:
    """Collect concurrent ``predict(inputs)`` calls into batched calls of ``fn``.

    Parameters
    ----------
    fn : callable
        ``fn(list of inputs) -> list of results``, one result per input, in order.
    max_batch : int
        Largest number of inputs per call of ``fn``.
    max_wait_s : float
        How long the leader of a batch waits for others before predicting (seconds; 0: only
        requests that queued while the previous batch was predicted are batched).
    name : str
        The model's name (for messages).
    """

    def __init__(
        self, fn: Callable[[list[Any]], Sequence[Any]], max_batch: int, max_wait_s: float,
        name: str = "model",
    ) -> None:  # fmt: skip
        self.fn = fn
        self.max_batch = max_batch
        self.max_wait_s = max_wait_s
        self.name = name
        self.batch_sizes: list[int] = []  # inputs per call of fn, most recent last (bounded)
        self._queue: deque[_Request] = deque()
        self._queued_inputs = 0
        self._busy = False  # a leader is predicting
        self._cond = threading.Condition()

    def predict(self, inputs: Sequence[Any]) -> list[Any]:
        """Results of ``fn`` for ``inputs`` (raises what ``fn`` raised on them alone)."""
        mine = _Request(list(inputs))
        with self._cond:
            self._queue.append(mine)
            self._queued_inputs += len(mine.inputs)
            self._cond.notify_all()  # a leader waiting for a fuller batch
            while self._busy and not mine.done:
                self._cond.wait()
            if mine.done:
                return mine.outcome()
            self._busy = True
        try:
            while not mine.done:
                batch = self._next_batch()
                try:
                    self._answer(batch)
                except BaseException as exc:  # interrupted: no request may wait for ever
                    for request in batch:
                        if not request.done:
                            request.error, request.done = exc, True
                    raise
                with self._cond:
                    self._cond.notify_all()  # the answered requests return
        finally:
            with self._cond:
                self._busy = False
                self._cond.notify_all()  # a request still queued leads the next batch
        return mine.outcome()

    def close(self) -> None:
        """Nothing to stop (no thread of its own); kept so that callers may drop a batcher."""

    def _next_batch(self) -> list[_Request]:
        """The queued requests of the next batch (oldest first), after waiting up to
        ``max_wait_s`` for a full one."""
        with self._cond:
            deadline = time.monotonic() + self.max_wait_s
            while self._queued_inputs < self.max_batch:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._cond.wait(left)
            batch = [self._queue.popleft()]
            size = len(batch[0].inputs)
            while self._queue and size + len(self._queue[0].inputs) <= self.max_batch:
                batch.append(self._queue.popleft())
                size += len(batch[-1].inputs)
            self._queued_inputs -= size
            return batch

    def _answer(self, batch: list[_Request]) -> None:
        inputs = [x for request in batch for x in request.inputs]
        try:
            results = list(self.fn(inputs)) if len(batch) > 1 else None
        except Exception:  # one bad input fails the batch: answer each request alone
            results = None
        if results is not None and len(results) == len(inputs):
            self.batch_sizes = [*self.batch_sizes[-999:], len(inputs)]
            start = 0
            for request in batch:
                request.results = results[start : start + len(request.inputs)]
                start += len(request.inputs)
                request.done = True
            return
        for request in batch:
            try:
                request.results = list(self.fn(request.inputs))
                self.batch_sizes = [*self.batch_sizes[-999:], len(request.inputs)]
            except BaseException as exc:  # handed to the waiting request's thread
                request.error = exc
            request.done = True
