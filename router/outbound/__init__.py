"""Outbound delivery to shoppers who are not on a WebSocket: the app channel's callback (a signed webhook to the
shop's backend) and the mini-program channel (WeChat's customer-service message API).

Every message to such a shopper that is not the synchronous reply to their own request is written to a
transactional outbox (``outbound_messages``) in the same transaction as the message itself; a delivery worker in
every router replica claims rows with a lease and delivers them at least once, in order per conversation, with
exponential back-off and a dead-letter list. See docs/outbound.md.
"""
