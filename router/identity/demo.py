"""Dev-mode defaults of `make run`: random demo channel keys and web identity secret, created once.

They are written to ``var/demo/channel_keys.json`` as ``{"app": ..., "miniprogram": ..., "web_identity_secret": ...}``
(mode 0600) so the README's curl and the demo shop page can use them. Outside dev mode there are no defaults.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path
from typing import Any

from router.identity.service import KEY_CHANNELS, IdentityService, identity_hash, new_secret


def load_or_create_demo_keys(path: Path) -> dict[str, str]:
    """The demo keys at ``path``, created (once) when the file does not exist yet."""
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        if all(isinstance(data.get(k), str) and data[k] for k in (*KEY_CHANNELS, "web_identity_secret")):
            return {str(k): str(v) for k, v in data.items()}
    keys = {channel: new_secret(f"kk_{channel}_") for channel in KEY_CHANNELS}
    keys["web_identity_secret"] = secrets.token_hex(32)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(keys, out, indent=2)
        out.write("\n")
    return keys


def install_demo_keys(identity: IdentityService, path: Path) -> dict[str, str]:
    """Register the demo channel keys (stored hashed, like any key) and return the file's values."""
    keys = load_or_create_demo_keys(path)
    for channel in KEY_CHANNELS:
        identity.register_channel_key(channel, keys[channel])
    return keys


WIDGET_TAG = '<script src="/widget.js" async></script>'
_DEMO_ID = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def demo_signed_widget(app: Any, customer_id: str) -> str | None:
    """The demo shop's widget tag signed for ``customer_id`` (what a shop's server renders for a logged-in
    shopper); None outside dev mode, without an identity secret, or for an id that is not a plain demo id."""
    settings = app.state.settings
    identity: IdentityService | None = getattr(app.state, "identity", None)
    if settings.env != "dev" or identity is None or not identity.web_identity_secret or not _DEMO_ID.match(customer_id):
        return None
    signature = identity_hash(identity.web_identity_secret, customer_id)
    return (
        f'<script src="/widget.js" async data-customer-id="{customer_id}" data-identity-hash="{signature}"></script>'
    )
