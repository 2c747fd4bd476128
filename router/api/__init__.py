"""The router's HTTP edge: shared dependency aliases (:mod:`router.api.deps`), the agent and routing APIs, and the
list of routers ``router.app.create_app`` mounts (:mod:`router.api.routers`)."""
