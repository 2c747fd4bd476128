"""Access to the shop's orders, shared by the action server and the router (it imports neither).

- :mod:`shop.orders`: the :class:`~shop.orders.OrderService` protocol, the ``Order`` model and the domain errors;
- :mod:`shop.order_http`: the client of a shop's own order API (the contract), :mod:`shop.order_api_server` its
  reference server;
- :mod:`shop.demo_store`, :mod:`shop.demo_data`, :mod:`shop.demo_cli`: the demo shop (SQLite) and ``kefu demo``;
- :mod:`shop.settings`: which backend a process uses (``KEFU_ACTIONS_ORDER_API_URL`` or the demo store).

The actions answer shoppers from it; the agent console's order panel (``router.gateway.context``) shows the same
order. Kept light: importing it needs pydantic, SQLAlchemy and httpx, never rasa-sdk, spaCy or FastAPI.
"""
