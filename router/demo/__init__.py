"""Demo and test data of the router: seeded shopper traffic (:mod:`router.demo.traffic`) and the demo staff
accounts of a dev start (:mod:`router.demo.users`, ``KEFU_ROUTER_DEMO_USERS``). Nothing in the service imports it
except the dev-only demo-users hook of ``router.app``."""
