"""One request at a time through upstream's ``TTS.run``, made by one long-lived thread and handed out as it is made.

Upstream's ``run`` keeps per-request state on the shared ``TTS`` object (``stop_flag``, the T2S decoder it picks,
the prompt cache) and draws from torch's global RNG, and api_v2 iterates streaming responses in worker threads
beside its other requests, so two requests interleaved on one pipeline can corrupt each other (and make a seeded
request unrepeatable). The overlay therefore runs upstream's generator to completion in its own producer thread,
one request after the other, and the caller's generator takes items from a queue: a slow reader of a stream never
holds up the next request, and a stream's pieces (pushed by the synthesis functions through
:meth:`RequestLine.push`) reach it as they are made.

A plain request (one answer, api_v2's default) is made in the caller's thread, as upstream makes it; streamed
and fragment requests go to the producer, one thread for the pipeline's lifetime, not one per request: state that
PyTorch keeps per thread (cuBLAS handles, the CPU thread pool, TorchScript's plans of upstream's T2S functions) is
then set up once, as in upstream's own long-lived server threads. (A fresh thread per request made the T2S stage
about 4x slower on the H200, measured 2026-12-02 through api_v2.)
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

_END = object()


class RequestLine:
    """Makes requests one at a time in one thread; ``push`` sends extra items to the request being made."""

    def __init__(self):
        self.lock = threading.RLock()  # held while a request is made; weight reloads take it too
        self._local = threading.local()
        self._jobs: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()

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

    def run(self, produce: Callable[[], Iterator[Any]], streaming: bool, context: Any = None,
            whole: bool = False) -> Iterator[Any]:
        """Items of ``produce()`` (upstream's generator). ``whole``: the request yields once (a plain, non-streamed
        request), so it is made in the caller's thread, as upstream makes it, under the lock, and handed out when
        done. Otherwise it is made in the producer thread and its items come as they are made; when ``streaming``,
        items pushed while it runs come first, and an item of ``produce()`` is dropped when pieces were pushed since
        the previous one (it repeats them: upstream's per-fragment output of audio already streamed). ``context``
        is readable as :attr:`context` where the request is made."""
        items: queue.Queue = queue.Queue()
        if whole:
            with self.lock:
                self._make(produce, False, context, items)
        else:
            self._ensure_producer()
            self._jobs.put((produce, streaming, context, items))
        while True:
            item = items.get()
            if item is _END:
                return
            if isinstance(item, _Raised):
                raise item.error
            yield item

    def _ensure_producer(self) -> None:
        with self._start_lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._serve, name="gsv-trt requests", daemon=True)
                self._thread.start()

    def _serve(self) -> None:
        while True:
            produce, streaming, context, items = self._jobs.get()
            with self.lock:
                self._make(produce, streaming, context, items)

    def _make(self, produce: Callable[[], Iterator[Any]], streaming: bool, context: Any, items: queue.Queue) -> None:
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


class _Raised:
    def __init__(self, error: BaseException):
        self.error = error
