"""Control frames on a user's fan-out topic: gateways act on them and never forward them.

The auth service publishes them on `user:<id>`, which every socket of the user follows on
whichever gateway holds it, so a logout or a membership change reaches each socket at once.
Fan-out is at-most-once: the store (revocation list, project members) stays the authority,
and a socket that misses a signal is still refused at its next re-authentication or check.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

SESSION_REVOKED = "_session_revoked"
MEMBERSHIP_CHANGED = "_membership_changed"
CONTROL_PREFIX = b'{"event":"_'


def session_revoked(session_ids: Sequence[str]) -> bytes:
    """Close (4401) the sockets authenticated with tokens of these sessions."""
    return orjson.dumps({"event": SESSION_REVOKED, "data": {"session_ids": list(session_ids)}})


def membership_changed(project_id: str, member: bool) -> bytes:
    """The user was added to a project (`member`) or removed: forget what the socket
    remembered about it."""
    data = {"project_id": project_id, "member": member}
    return orjson.dumps({"event": MEMBERSHIP_CHANGED, "data": data})
