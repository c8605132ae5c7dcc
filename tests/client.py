"""A small Huddle client for tests: log in over HTTP, talk over the WebSocket."""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

Frame = dict[str, Any]


async def login(auth_base: str, username: str = "demo", password: str = "demo") -> str:
    """An access token for the user."""
    async with httpx.AsyncClient(base_url=auth_base, timeout=10) as http:
        response = await http.post("/auth/login", json={"username": username, "password": password})
        response.raise_for_status()
        return str(response.json()["access_token"])


class Client:
    """One authenticated socket that keeps every frame it receives."""

    def __init__(self, ws: ClientConnection, ws_url: str = "", token: str = "") -> None:
        self.ws = ws
        self.ws_url = ws_url
        self.token = token
        self.frames: list[Frame] = []
        # Where each topic stands for this client: what `resume` asks for after a reconnect.
        self.positions: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._arrived = asyncio.Event()
        self._reader = asyncio.create_task(self._read())

    @classmethod
    async def connect(cls, ws_url: str, token: str) -> Client:
        """Open the socket, authenticate, and wait for `connected`."""
        ws = await websockets.connect(ws_url, open_timeout=10)
        await ws.send(json.dumps({"event": "auth", "data": {"token": token}}))
        client = cls(ws, ws_url, token)
        await client.wait_for(lambda f: f["event"] == "connected")
        return client

    async def reconnect(self) -> Frame:
        """Open a new socket and resume every topic; return the `resumed` frame."""
        if not self._reader.done():
            await self.ws.close()
            await self._reader
        self.ws = await websockets.connect(self.ws_url, open_timeout=10)
        await self.ws.send(json.dumps({"event": "auth", "data": {"token": self.token}}))
        self._reader = asyncio.create_task(self._read())
        count = len(self.frames)
        await self.wait_for(lambda f: f["event"] == "connected", start=count)
        ref = await self.send("resume", {"positions": self.positions})
        return await self.wait_for(lambda f: f.get("ref") == ref and f["event"] == "resumed")

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                self.frames.append(frame)
                self._track(frame)
                self._arrived.set()
        except websockets.ConnectionClosed:
            pass
        self._arrived.set()

    def _track(self, frame: Frame) -> None:
        if frame["event"] == "joined_channel":
            for topic, position in frame["data"]["positions"].items():
                self.positions.setdefault(topic, position)
        topic, seq = frame.get("topic"), frame.get("seq")
        if topic is not None and seq is not None:
            known = self.positions.get(topic)
            if known is None or known["epoch"] != frame["epoch"] or seq > known["seq"]:
                self.positions[topic] = {"seq": seq, "epoch": frame["epoch"]}

    async def send(self, event: str, data: dict[str, Any] | None = None) -> str:
        """Send a frame; return its id."""
        frame_id = f"f{next(self._ids)}"
        await self.ws.send(json.dumps({"event": event, "data": data or {}, "id": frame_id}))
        return frame_id

    async def wait_for(
        self, predicate: Callable[[Frame], bool], within_s: float = 10, start: int = 0
    ) -> Frame:
        """The first frame received (from index `start`, now or later) that matches."""
        async with asyncio.timeout(within_s):
            while True:
                for frame in self.frames[start:]:
                    if predicate(frame):
                        return frame
                if self._reader.done():
                    raise AssertionError(f"socket closed; got {self.frames[-5:]}")
                self._arrived.clear()
                await self._arrived.wait()

    async def command(
        self, text: str, project_id: str | None = None, channel: str | None = None
    ) -> Frame:
        """Send a command and return its `command_result` (after checking `command_received`)."""
        data: dict[str, Any] = {"command": text}
        if project_id is not None:
            data |= {"project_id": project_id, "channel": channel or "general"}
        ref = await self.send("command", data)
        received = await self.wait_for(lambda f: f.get("ref") == ref)
        assert received["event"] == "command_received", received
        command_id = received["data"]["command_id"]
        return await self.wait_for(
            lambda f: f["event"] == "command_result" and f["data"]["command_id"] == command_id
        )

    async def close(self) -> None:
        await self.ws.close()
        await self._reader
