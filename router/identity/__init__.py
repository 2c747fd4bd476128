"""Shopper identity, authorization and personal data: visitor tokens, verified customers (identity hash), shop
backends (channel keys), ownership checks of the shopper endpoints, masking, export and erasure."""

from __future__ import annotations

from router.identity.service import Admission, IdentityService, Shopper, identity_hash

__all__ = ["Admission", "IdentityService", "Shopper", "identity_hash"]
