"""Which projects each user is a member of: an index kept beside the project entities.

A member's `/project list` (and `/api/projects`, `/api/agents`) reads their own projects
through it instead of every project of the deployment. Whoever changes a project's `members`
(the orchestrator registering a project, the auth service granting or ending a membership)
writes the member's index entity in the same compare-and-set commit, so the two never
disagree. Projects from before the index existed are indexed once, at the orchestrator's
start (`build_member_index`).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from .access import PROJECT, can_access
from .contracts import UserInfo
from .store import Entity, Store, VersionConflict, Write

log = logging.getLogger(__name__)

MEMBER_PROJECTS = "member_projects"  # key: user id; state: {"projects": [project ids, sorted]}
INDEX_MARKER = ("meta", "member_projects_index")  # present once every project is indexed
_BUILD_RETRIES = 20


def with_membership(
    index: dict[str, Any] | None, project_id: str, *, member: bool
) -> dict[str, Any]:
    """The index state of a user after joining (`member`) or leaving one project."""
    projects = set(() if index is None else index["projects"])
    if member:
        projects.add(project_id)
    else:
        projects.discard(project_id)
    return {"projects": sorted(projects)}


async def projects_of(store: Store, user: UserInfo) -> list[Entity]:
    """Every project the user may see, sorted by id: all for admins, else their own."""
    if "admin" in user.roles:
        return await store.all(PROJECT)
    index = await store.get(MEMBER_PROJECTS, user.id)
    if index is None:
        return []
    found = await store.get_many(PROJECT, index.state["projects"])
    # The project says who its members are; the index only narrows where to look.
    return [project for project in found if project is not None and can_access(project, user)]


async def build_member_index(store: Store) -> int:
    """Index every project's members once per deployment; return how many users it wrote.

    Safe beside running writers: the whole index and the marker are one compare-and-set
    commit over the versions read, so a membership changed meanwhile makes it read again.
    """
    for _ in range(_BUILD_RETRIES):
        if await store.get(*INDEX_MARKER) is not None:
            return 0
        wanted: dict[str, set[str]] = defaultdict(set)
        for project in await store.all(PROJECT):
            for user_id in project.state["members"]:
                wanted[user_id].add(project.key)
        users = sorted(wanted)
        current = await store.get_many(MEMBER_PROJECTS, users)
        writes = []
        for user_id, index in zip(users, current, strict=True):
            # Kept entries too: a membership granted after the projects were read is in the
            # index already. One ended meanwhile may stay listed; reads check the project.
            kept = set(() if index is None else index.state["projects"])
            state = {"projects": sorted(wanted[user_id] | kept)}
            version = 0 if index is None else index.version
            writes.append(Write(MEMBER_PROJECTS, user_id, state, expected_version=version))
        writes.append(Write(*INDEX_MARKER, {"version": 1}, expected_version=0))
        try:
            await store.commit(writes)
        except VersionConflict:
            continue  # a membership changed, or another orchestrator finished first
        log.info("indexed the projects of %d members", len(users))
        return len(users)
    raise RuntimeError("project memberships kept changing while being indexed")
