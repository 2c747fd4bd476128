"""kefu custom actions for the Rasa bot (rasa-sdk action server).

Start the server with ``python -m rasa_sdk --actions actions --port 5055``. rasa-sdk imports this package and every
submodule in it, and registers each concrete ``Action`` subclass; the imports below make the set of action modules
explicit (and let ``import actions`` alone register them too). Names are fixed in docs/bot-actions-contract.md.
"""

from __future__ import annotations

from actions import faq, forms, handoff, invoices, order_actions, returns
from actions.warmup import in_server_worker, start_background_warmup

ACTION_MODULES = (faq, forms, handoff, invoices, order_actions, returns)

if in_server_worker():
    start_background_warmup()
