"""Users and memberships for tests, written where the services read them (the stack's Redis)."""

from __future__ import annotations

from redis.asyncio import Redis

from services.auth.users import Users
from services.common.store import Write
from services.common.store_redis import RedisStore
from services.common.topology import Topology


async def add_member(redis_url: str, namespace: str, project_id: str | None, username: str) -> str:
    """Create `username` (password = username) and make them a member of the project, if any."""
    redis = Redis.from_url(redis_url)
    try:
        store = RedisStore(redis, Topology(namespace))
        users = Users(store, refresh_ttl_s=3600)
        user = await users.get(username) or await users.create(username, username, ["member"])
        if project_id is None:
            return user.id
        project = await store.get("project", project_id)
        assert project is not None
        members = [*project.state["members"], user.id]
        await store.commit(
            [Write("project", project_id, {**project.state, "members": members}, project.version)]
        )
        return user.id
    finally:
        await redis.aclose()
