"""The admin API: users, their roles, project members. Every route needs the `admin` role."""

from collections.abc import Callable
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, HTTPException, Path
from pydantic import BaseModel, ConfigDict, Field

from services.common.contracts import ProjectId
from services.common.http import admin_claims
from services.common.store import VersionConflict
from services.common.tokens import Claims, TokenVerifier

from .members import Memberships
from .sessions import Sessions
from .users import User, Users

Role = Literal["admin", "member"]
UserId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    password: str = Field(min_length=1, max_length=1024)
    roles: list[Role] = Field(default=["member"], min_length=1, max_length=2)


class RolesUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    roles: list[Role] = Field(min_length=1, max_length=2)


class UserPublic(BaseModel):
    id: str
    username: str
    roles: list[str]


class ProjectMembers(BaseModel):
    project_id: str
    members: list[str]


def _public(user: User) -> UserPublic:
    return UserPublic(id=user.id, username=user.username, roles=user.roles)


def admin_router(
    verifier: Callable[[], TokenVerifier],
    users: Callable[[], Users],
    sessions: Callable[[], Sessions],
    memberships: Callable[[], Memberships],
    min_password_chars: int,
) -> APIRouter:
    """The `/auth/users` and `/auth/projects/{id}/members` routes."""
    router = APIRouter(tags=["admin"])  # included under the auth router's /auth
    Admin = Annotated[Claims, Depends(admin_claims(verifier))]

    @router.get("/users")
    async def list_users(admin: Admin) -> list[UserPublic]:
        """Every user."""
        return [_public(user) for user in await users().all()]

    @router.post("/users", status_code=201)
    async def create_user(body: NewUser, admin: Admin) -> UserPublic:
        """Create a user with a password and roles."""
        if len(body.password) < min_password_chars:
            raise HTTPException(422, f"password must have at least {min_password_chars} characters")
        try:
            user = await users().create(body.username, body.password, sorted(set(body.roles)))
        except VersionConflict:
            raise HTTPException(409, f"user {body.username} already exists") from None
        return _public(user)

    @router.put("/users/{user_id}/roles")
    async def set_roles(user_id: UserId, body: RolesUpdate, admin: Admin) -> UserPublic:
        """Replace a user's roles; taking a role away ends the user's sessions."""
        before = await users().by_id(user_id)
        if before is None:
            raise HTTPException(404, f"user {user_id} not found")
        roles: list[str] = sorted(set(body.roles))
        if user_id == admin.user.id and "admin" not in roles:
            raise HTTPException(409, "you cannot take away your own admin role")
        after = await users().set_roles(user_id, roles)
        if after is None:
            raise HTTPException(404, f"user {user_id} not found")
        if set(before.roles) - set(roles):
            await sessions().revoke_all(user_id)  # their tokens still carry the old roles
        return _public(after)

    async def existing_user(user_id: str) -> None:
        if await users().by_id(user_id) is None:
            raise HTTPException(404, f"user {user_id} not found")

    @router.get("/projects/{project_id}/members")
    async def members(project_id: ProjectId, admin: Admin) -> ProjectMembers:
        """A project's members."""
        found = await memberships().members(project_id)
        if found is None:
            raise HTTPException(404, f"project {project_id} not found")
        return ProjectMembers(project_id=project_id, members=found)

    @router.put("/projects/{project_id}/members/{user_id}")
    async def add_member(project_id: ProjectId, user_id: UserId, admin: Admin) -> ProjectMembers:
        """Make a user a member of a project (idempotent)."""
        await existing_user(user_id)
        found = await memberships().add(project_id, user_id)
        if found is None:
            raise HTTPException(404, f"project {project_id} not found")
        return ProjectMembers(project_id=project_id, members=found)

    @router.delete("/projects/{project_id}/members/{user_id}")
    async def remove_member(project_id: ProjectId, user_id: UserId, admin: Admin) -> ProjectMembers:
        """End a user's membership of a project (idempotent); their sockets lose its topics."""
        found = await memberships().remove(project_id, user_id)
        if found is None:
            raise HTTPException(404, f"project {project_id} not found")
        return ProjectMembers(project_id=project_id, members=found)

    return router
