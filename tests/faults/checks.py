"""What must hold after every fault (read from the database the replicas share)."""

from __future__ import annotations

import time

from sqlalchemy import Engine, text

from tests.faults.load import Record


def check_after_fault(db: Engine, record: Record, *, offer_timeout_s: float) -> dict[str, int]:
    """Assert the fault suite's invariants for the customers of ``record``; returns a summary for the test log."""
    customers = sorted(record.customers)
    assert record.gave_up == [], f"messages never accepted: {record.gave_up[:5]}"
    assert len(record.accepted) > 0
    with db.connect() as conn:
        rows = conn.execute(
            text("SELECT customer_id, client_msg_id, count(*), min(id) FROM messages "
                 "WHERE customer_id = ANY(:c) AND client_msg_id IS NOT NULL GROUP BY customer_id, client_msg_id"),
            {"c": customers},
        ).all()
        stored = {(c, m): (n, first) for c, m, n, first in rows}
        # every accepted message stored exactly once, under the id the caller was given
        missing = [k for k in record.accepted if k not in stored]
        twice = [k for k, (n, _) in stored.items() if n > 1]
        wrong_id = [k for k, mid in record.accepted.items() if k in stored and stored[k][1] != mid]
        assert (missing, twice, wrong_id) == ([], [], []), (missing[:5], twice[:5], wrong_id[:5])
        # every message sent while an agent owned the conversation reached that agent
        undelivered = sorted(set(record.to_agent) - record.agent_received)
        assert undelivered == [], undelivered[:5]
        # one open conversation per customer
        open_twice = conn.execute(
            text("SELECT customer_id FROM conversations WHERE status = 'open' AND customer_id = ANY(:c) "
                 "GROUP BY customer_id HAVING count(*) > 1"), {"c": customers},
        ).all()
        assert open_twice == []
        # nobody left without an owner: a queued conversation is known to routing, and no offer outlives its
        # deadline by more than the timer's slack (the offer timeout itself is the allowed wait)
        lost = conn.execute(
            text("SELECT c.id FROM conversations c WHERE c.status = 'open' AND c.owner = 'queue' "
                 "AND c.customer_id = ANY(:c) AND NOT EXISTS (SELECT 1 FROM handoffs h WHERE "
                 "h.conversation_id = c.id AND h.state IN ('waiting', 'offered', 'assigned'))"), {"c": customers},
        ).all()
        assert lost == [], f"queued conversations routing forgot: {lost[:5]}"
        stale = conn.execute(
            text("SELECT id, deadline FROM offers WHERE state = 'pending' AND deadline < :t"),
            {"t": time.time() - offer_timeout_s},
        ).all()
        assert stale == [], f"offers past their deadline by more than {offer_timeout_s} s: {stale[:5]}"
        agent_owned = conn.execute(
            text("SELECT c.id FROM conversations c WHERE c.status = 'open' AND c.owner = 'agent' "
                 "AND c.customer_id = ANY(:c) AND NOT EXISTS (SELECT 1 FROM assignments a WHERE "
                 "a.conversation_id = c.id AND a.ended_at IS NULL)"), {"c": customers},
        ).all()
        assert agent_owned == [], f"agent-owned conversations without an assignment: {agent_owned[:5]}"
        # no duplicate tickets or alerts
        tickets = conn.execute(
            text("SELECT conversation_id FROM tickets WHERE source IN ('unresolved', 'leave_message') "
                 "GROUP BY conversation_id HAVING count(*) > 1")).all()
        alerts = conn.execute(text("SELECT dedup_key FROM alerts GROUP BY dedup_key HAVING count(*) > 1")).all()
        assert (tickets, alerts) == ([], [])
        live_twice = conn.execute(
            text("SELECT conversation_id FROM handoffs WHERE state IN ('waiting', 'offered', 'assigned') "
                 "GROUP BY conversation_id HAVING count(*) > 1")).all()
        assert live_twice == []
    return {"accepted": len(record.accepted), "to_agent": len(record.to_agent), "resent": record.resent,
            "accepts": record.accepts, "agent_reconnects": record.agent_reconnects}
