"""Project records in the store, and who may see them."""

from __future__ import annotations

import re
import time
from typing import Any

from services.common.access import PROJECT, can_access
from services.common.contracts import UserInfo
from services.common.store import Entity, Store

from .workflow import State

__all__ = ["EPIC", "PROJECT", "can_access", "new_project", "slugify", "visible_projects"]

EPIC = "epic"
DEFAULT_CHANNELS = ("general",)


def slugify(name: str) -> str:
    """Lowercase letters, digits and dashes: the project id of a name."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:64].rstrip("-")


def new_project(project_id: str, name: str, owner: UserInfo) -> dict[str, Any]:
    """The state of a freshly registered project."""
    return {
        "id": project_id,
        "name": name,
        "state": State.IDLE.value,
        "channels": list(DEFAULT_CHANNELS),
        "members": [owner.id],
        "created_by": owner.id,
        "created_at": time.time(),
        "epic_seq": 0,
    }


async def visible_projects(store: Store, user: UserInfo) -> list[Entity]:
    """Every project the user may see, by id."""
    projects = []
    for key in await store.keys(PROJECT):
        project = await store.get(PROJECT, key)
        if project is not None and can_access(project, user):
            projects.append(project)
    return projects
