"""How the overlay makes upstream's requests (gsv_trt/gpt_sovits/request_line.py): a plain request in the caller's
thread, streamed ones by one long-lived producer thread (a fresh thread per request made upstream's T2S 4x slower
on the H200), one at a time, pushed pieces first, errors raised to the reader."""

from __future__ import annotations

import threading
import time

import pytest

from gsv_trt.gpt_sovits.request_line import RequestLine


def test_a_plain_request_is_made_in_the_callers_thread():
    line, made_in = RequestLine(), []

    def produce():
        made_in.append(threading.get_ident())
        yield "whole audio"

    assert list(line.run(produce, streaming=False, whole=True)) == ["whole audio"]
    assert made_in == [threading.get_ident()]


def test_streamed_requests_share_one_producer_thread_and_get_pushed_pieces_first():
    line, made_in = RequestLine(), []

    def produce(name):
        def request():
            made_in.append(threading.get_ident())
            for piece in ("a", "b"):
                line.push(f"{name}:{piece}:{line.context}")
            yield f"{name}: upstream's fragment, repeating the pieces"  # dropped: pieces were pushed before it
            yield f"{name}: upstream's silence"  # kept: nothing was pushed since the last item
        return request

    first = list(line.run(produce("one"), streaming=True, context=1))
    second = list(line.run(produce("two"), streaming=True, context=2))
    assert first == ["one:a:1", "one:b:1", "one: upstream's silence"]
    assert second == ["two:a:2", "two:b:2", "two: upstream's silence"]
    assert len(set(made_in)) == 1 and made_in[0] != threading.get_ident()


def test_requests_run_one_at_a_time_and_errors_reach_the_reader():
    line, running, overlaps = RequestLine(), [], []

    def produce():
        running.append(1)
        overlaps.append(len(running))
        time.sleep(0.05)  # long enough for the other readers' requests to start, were they not held back
        yield "done"
        running.pop()

    # plain requests (made in the readers' threads) and fragment requests (made by the producer), mixed
    readers = [threading.Thread(target=lambda whole=i % 2 == 0: list(line.run(produce, False, whole=whole)))
               for i in range(4)]
    for reader in readers:
        reader.start()
    for reader in readers:
        reader.join()
    assert overlaps == [1, 1, 1, 1]

    def failing():
        raise ValueError("upstream failed")
        yield

    with pytest.raises(ValueError, match="upstream failed"):
        list(line.run(failing, streaming=True))
