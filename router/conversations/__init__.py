"""Conversations, the shared domain: customers and their channel identities, conversations, messages, events and
surveys. Every other domain (gateway, routing, tickets, alerts, learning, reports ...) imports these models from here;
none imports another domain's tables for them."""
