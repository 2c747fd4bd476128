"""The channel gateway: shoppers' messages in, the bot or an agent, replies out (built in ``wiring``)."""
