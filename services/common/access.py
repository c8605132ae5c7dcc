"""Who may see a project: shared by every service that gates on membership."""

from __future__ import annotations

from .contracts import UserInfo
from .store import Entity, Store

PROJECT = "project"


def can_access(project: Entity, user: UserInfo) -> bool:
    """Members see a project; admins see every project."""
    return "admin" in user.roles or user.id in project.state["members"]


async def accessible_project(store: Store, project_id: str, user: UserInfo) -> Entity | None:
    """The project if it exists and the user may see it, else None (the two look the same)."""
    project = await store.get(PROJECT, project_id)
    if project is None or not can_access(project, user):
        return None
    return project
