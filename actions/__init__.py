"""kefu custom actions for the Rasa bot (rasa-sdk action server).

Start the server with ``python -m rasa_sdk --actions actions --port 5055``: rasa-sdk imports this package and every
submodule in it (``pkgutil`` walk) and registers each concrete ``Action`` subclass, so the action modules
(faq, forms, handoff, invoices, order_actions, returns) need no import here. Order access (the order service, the
demo store, ``kefu demo``) is the package ``shop``, shared with the router; this package never imports ``router``.
Names are fixed in docs/bot-actions-contract.md.
"""

from __future__ import annotations

from actions.warmup import in_server_worker, start_background_warmup

ACTION_MODULES = ("faq", "forms", "handoff", "invoices", "order_actions", "returns")

if in_server_worker():
    start_background_warmup()
