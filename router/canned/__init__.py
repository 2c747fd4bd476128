"""Canned replies: snippets an agent inserts with ``/`` in the console's reply boxes, per skill group and personal."""
