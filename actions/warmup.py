"""Load the heavy objects (product EntityRuler, knowledge base, order service) once, in the background, as soon
as an action-server worker starts, so the first shopper message does not pay for it.

Then everything alive is moved out of the garbage collector's full passes (``gc.freeze()``): the loaded knowledge
base and models are hundreds of thousands of objects that live as long as the worker, and each full collection
walked them all, stopping the worker for 120-230 ms every 10 s or so under the load bench (``gc.callbacks``)."""

from __future__ import annotations

import gc
import logging
import os
import threading
import time

logger = logging.getLogger(__name__)
_started = threading.Event()


def warm_up() -> dict[str, float]:
    """Build every process-wide singleton now; returns the seconds each took (failures are logged, not raised)."""
    from actions.faq import get_kb
    from actions.products import get_product_recognizer
    from shop.settings import get_order_service

    timings: dict[str, float] = {}
    for name, load in (("products", get_product_recognizer), ("orders", get_order_service), ("kb", get_kb)):
        start = time.perf_counter()
        try:
            load()
        except Exception:
            logger.exception("warm-up of %s failed; it will be retried on first use", name)
        timings[name] = round(time.perf_counter() - start, 3)
    logger.info("actions warmed up: %s", timings)
    return timings


def in_server_worker() -> bool:
    """True inside a Sanic worker process of ``python -m rasa_sdk`` (not in tests, CLIs or the main process)."""
    return os.environ.get("SANIC_WORKER_NAME", "").startswith("Sanic-Server")


def start_background_warmup() -> bool:
    """Start :func:`warm_up` in a daemon thread once per process; ``KEFU_ACTIONS_WARMUP=0`` disables it."""
    if os.environ.get("KEFU_ACTIONS_WARMUP", "1").lower() in {"0", "false", "no"} or _started.is_set():
        return False
    _started.set()
    threading.Thread(target=warm_up_and_freeze, name="kefu-actions-warmup", daemon=True).start()
    return True


def warm_up_and_freeze() -> None:
    """:func:`warm_up`, then ``gc.freeze()`` (see the module's text)."""
    warm_up()
    gc.collect()
    gc.freeze()
