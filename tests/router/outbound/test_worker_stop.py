"""The delivery worker stops when asked, whatever it was doing (found: a test run hung for 5 minutes in stop()).

Python 3.11's ``asyncio.wait_for`` swallows a cancellation that arrives while the awaited future has just completed
(CPython gh-86296, fixed in 3.12). The worker's loop waited for its wake-up event with ``wait_for``: a delivery that
finished (and woke the loop) right before ``stop()`` cancelled it left the loop running forever, and ``stop()`` --
the test harness's, and the app's shutdown -- waiting for it.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.router.outbound.support import database, worker


def test_stop_right_after_a_wake_up_returns(tmp_path: Path) -> None:
    sessions = database(tmp_path)

    async def main() -> None:
        for _ in range(3):
            w = worker(sessions, base_s=0.01)
            w.poll_s = 30.0  # the loop sits in its wake-up wait
            w.start()
            await asyncio.sleep(0.05)
            w.wake()  # as a finished delivery does; stop() comes in the same turn of the event loop
            started = time.monotonic()
            stopper = asyncio.ensure_future(w.stop())
            done, _ = await asyncio.wait({stopper}, timeout=3.0)
            assert done, "stop() did not return within 3 s"
            assert time.monotonic() - started < 3.0
            await w.webhook.aclose()

    asyncio.run(main())
