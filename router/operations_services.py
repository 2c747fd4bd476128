"""Accessors of two services of the app's container for ``router.gateway.wiring`` (not edited in this change: it
could read ``app.state.services`` directly). Both services are built once in the lifespan (:mod:`router.services`);
nothing here builds one."""

from __future__ import annotations

from fastapi import FastAPI

from router.services import Services
from router.singleton import JobLocks
from router.tickets.service import TicketService


def _services(app: FastAPI) -> Services:
    services: Services = app.state.services
    return services


def ticket_service_for_app(app: FastAPI) -> TicketService:
    """The app's ticket service (the gateway's ``TicketSink``)."""
    return _services(app).tickets


def job_locks_for_app(app: FastAPI) -> JobLocks:
    """The app's cluster-wide job locks (the gateway's idle-conversation closer runs under one)."""
    return _services(app).job_locks
