"""Project membership, written into the project entity's `members` with compare-and-set.

The orchestrator owns projects, but membership is the auth service's to grant: both write the
same entity, each only over the version it read, so neither loses the other's change. The
member's index of projects (`member_index.py`) is written in the same commit.
"""

from __future__ import annotations

from services.common.access import PROJECT
from services.common.contracts import user_topic
from services.common.fanout import Fanout
from services.common.member_index import MEMBER_PROJECTS, with_membership
from services.common.signals import membership_changed
from services.common.store import Store, VersionConflict, Write

_RETRIES = 20


class Memberships:
    """Adds and removes project members and tells the member's gateways."""

    def __init__(self, store: Store, fanout: Fanout) -> None:
        self._store = store
        self._fanout = fanout

    async def members(self, project_id: str) -> list[str] | None:
        """The project's member ids, or None if there is no such project."""
        project = await self._store.get(PROJECT, project_id)
        return None if project is None else list(project.state["members"])

    async def add(self, project_id: str, user_id: str) -> list[str] | None:
        """Make the user a member; the members after, or None if there is no such project."""
        return await self._change(project_id, user_id, member=True)

    async def remove(self, project_id: str, user_id: str) -> list[str] | None:
        """End the user's membership; the members after, or None if there is no such project."""
        return await self._change(project_id, user_id, member=False)

    async def _change(self, project_id: str, user_id: str, *, member: bool) -> list[str] | None:
        for _ in range(_RETRIES):
            project = await self._store.get(PROJECT, project_id)
            if project is None:
                return None
            members = list(project.state["members"])
            if (user_id in members) == member:
                return members
            members = [*members, user_id] if member else [m for m in members if m != user_id]
            state = {**project.state, "members": members}
            index = await self._store.get(MEMBER_PROJECTS, user_id)
            indexed = with_membership(
                None if index is None else index.state, project_id, member=member
            )
            writes = [
                Write(PROJECT, project_id, state, project.version),
                Write(MEMBER_PROJECTS, user_id, indexed, 0 if index is None else index.version),
            ]
            try:
                await self._store.commit(writes)
            except VersionConflict:
                continue  # the orchestrator changed the project meanwhile: read it again
            await self._fanout.publish(user_topic(user_id), membership_changed(project_id, member))
            return members
        raise RuntimeError(f"project {project_id} kept changing")
