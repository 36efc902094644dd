"""One request at a time through upstream's ``TTS.run``, made in a thread and handed out as it is made.

Upstream's ``run`` keeps per-request state on the shared ``TTS`` object (``stop_flag``, the T2S decoder it picks,
the prompt cache) and draws from torch's global RNG, and api_v2 iterates streaming responses in worker threads
beside its other requests, so two requests interleaved on one pipeline can corrupt each other (and make a seeded
request unrepeatable). The overlay therefore runs upstream's generator to completion under one lock, in a producer
thread, and the caller's generator takes items from a queue: a slow reader of a stream never holds the lock, and a
stream's pieces (pushed by the synthesis functions through :meth:`RequestLine.push`) reach it as they are made.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

_END = object()


class RequestLine:
    """Serialises request production on one pipeline; ``push`` sends extra items to the request being made."""

    def __init__(self):
        self.lock = threading.RLock()
        self._local = threading.local()

    @property
    def sink(self) -> Callable[[Any], None] | None:
        """Where the current thread's request takes streamed items, or None when it does not stream."""
        return getattr(self._local, "sink", None)

    @property
    def context(self) -> Any:
        """What the current thread's request was started with (``run``'s ``context``)."""
        return getattr(self._local, "context", None)

    def push(self, item: Any) -> None:
        self._local.sink(item)
        self._local.pushed = True

    def run(self, produce: Callable[[], Iterator[Any]], streaming: bool, context: Any = None) -> Iterator[Any]:
        """Items of ``produce()`` (upstream's generator), made under the lock in a thread. When ``streaming``, items
        pushed while it runs come first, and an item of ``produce()`` is dropped when pieces were pushed since the
        previous one (it repeats them: upstream's per-fragment output of audio already streamed). ``context`` is
        readable as :attr:`context` in the producer thread."""
        items: queue.Queue = queue.Queue()

        def producer() -> None:
            with self.lock:
                self._local.sink = items.put if streaming else None
                self._local.pushed, self._local.context = False, context
                try:
                    for item in produce():
                        if not self._local.pushed:
                            items.put(item)
                        self._local.pushed = False
                except BaseException as error:  # handed to the reader, raised there
                    items.put(_Raised(error))
                finally:
                    self._local.sink = self._local.context = None
                    items.put(_END)

        threading.Thread(target=producer, name="gsv-trt request", daemon=True).start()
        while True:
            item = items.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item


class _Raised:
    def __init__(self, error: BaseException):
        self.error = error
