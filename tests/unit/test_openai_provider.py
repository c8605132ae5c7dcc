"""The OpenAI-compatible provider against a real local chat-completions server.

The server is a small FastAPI app under uvicorn in a background thread. Each test picks the
server's behaviour through the URL (`/s/{scenario}/{run}`), and the server records every request
under its `run` so a test sees exactly what the provider sent.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from services.orchestrator.agents.openai import MAX_OUTPUT_CHARS, OpenAIProvider
from services.orchestrator.agents.provider import PhaseRequest, ProviderError
from tests.processes import free_port

API_KEY = "sk-test-123"
MODEL = "test-model-7b"

STORIES = [
    {
        "title": "Sign up with email",
        "description": "As a visitor I want to sign up so that I can log in.",
        "acceptance_criteria": ["A valid email creates an account", "A duplicate is refused"],
        "priority": 1,
    },
    {
        "title": "Reset a password",
        "description": "As a user I want to reset my password.",
        "acceptance_criteria": ["A reset link is sent"],
        "priority": 2,
    },
]


def completion(content: str | None) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": content},
                "finish_reason": "stop",
            }
        ],
    }


@dataclass
class Recorded:
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class ChatServer:
    port: int
    requests: dict[str, list[Recorded]] = field(default_factory=dict)

    def base_url(self, scenario: str) -> tuple[str, str]:
        """The base URL for `scenario` and the run id its requests are recorded under."""
        run = uuid.uuid4().hex
        return f"http://127.0.0.1:{self.port}/s/{scenario}/{run}/v1", run


def make_app(server: ChatServer) -> FastAPI:
    app = FastAPI()

    @app.post("/s/{scenario}/{run}/v1/chat/completions")
    async def chat(scenario: str, run: str, request: Request) -> Response:
        body = await request.json()
        server.requests.setdefault(run, []).append(
            Recorded(headers={k.lower(): v for k, v in request.headers.items()}, body=body)
        )
        if scenario == "stories":
            return JSONResponse(completion(json.dumps(STORIES)))
        if scenario == "fenced":
            text = f"Sure! Here are the stories:\n```json\n{json.dumps(STORIES, indent=2)}\n```\n"
            return JSONResponse(completion(text + "Tell me if you want [more] of them."))
        if scenario == "many":
            many = [dict(STORIES[0], title=f"Story {n}") for n in range(12)]
            return JSONResponse(completion(json.dumps(many)))
        if scenario == "malformed":
            return JSONResponse(completion('[{"title": "Sign up", "description": '))
        if scenario == "badschema":
            return JSONResponse(completion(json.dumps([{"title": "Sign up", "priority": 9}])))
        if scenario == "text":
            return JSONResponse(completion("  Design: a User table and a signup endpoint.\n"))
        if scenario == "long":
            return JSONResponse(completion("x" * (MAX_OUTPUT_CHARS + 500)))
        if scenario == "error500":
            return PlainTextResponse("upstream model crashed: out of memory", status_code=500)
        if scenario == "notjson":
            return PlainTextResponse("<html>gateway</html>", status_code=200)
        if scenario == "nochoices":
            return JSONResponse({"id": "chatcmpl-1", "choices": []})
        if scenario == "empty":
            return JSONResponse(completion(""))
        if scenario == "auth":
            if request.headers.get("authorization") != f"Bearer {API_KEY}":
                return JSONResponse({"error": {"message": "missing API key"}}, status_code=401)
            return JSONResponse(completion("authorised"))
        if scenario == "slow":
            # Far beyond the client's timeout; stops early once the client has gone.
            for _ in range(100):  # 5 s
                if await request.is_disconnected():
                    break
                await asyncio.sleep(0.05)
            return JSONResponse(completion("too late"))
        return JSONResponse({"error": f"unknown scenario {scenario}"}, status_code=404)

    return app


@pytest.fixture(scope="module")
def chat_server() -> Iterator[ChatServer]:
    """A real chat-completions server on a free port, for the whole module."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = ChatServer(port=int(sock.getsockname()[1]))
    config = uvicorn.Config(
        make_app(server), log_level="warning", lifespan="off", timeout_graceful_shutdown=2
    )
    uvicorn_server = uvicorn.Server(config)
    thread = threading.Thread(target=uvicorn_server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not uvicorn_server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise AssertionError("the test chat-completions server did not start")
        time.sleep(0.02)
    try:
        yield server
    finally:
        uvicorn_server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def phase_request(**changes: Any) -> PhaseRequest:
    fields: dict[str, Any] = {
        "project_id": "p1",
        "task_id": "t1",
        "story_title": "Sign up with email",
        "story_description": "As a visitor I want to sign up.",
        "acceptance_criteria": ["A valid email creates an account", "A duplicate is refused"],
        "phase": "TEST_RED",
        "agent": "QAAgent",
        "attempt": 0,
    }
    fields.update(changes)
    return PhaseRequest(**fields)


class Progress:
    def __init__(self) -> None:
        self.calls: list[int] = []

    async def __call__(self, percent: int) -> None:
        self.calls.append(percent)


async def test_stories_are_parsed(chat_server: ChatServer) -> None:
    url, run = chat_server.base_url("stories")
    provider = OpenAIProvider(url, API_KEY, MODEL)
    try:
        stories = await provider.propose_stories("User accounts")
    finally:
        await provider.aclose()
    assert [story.title for story in stories] == ["Sign up with email", "Reset a password"]
    assert stories[0].acceptance_criteria == [
        "A valid email creates an account",
        "A duplicate is refused",
    ]
    assert [story.priority for story in stories] == [1, 2]
    [sent] = chat_server.requests[run]
    assert sent.body["model"] == MODEL
    assert isinstance(sent.body["temperature"], float)
    assert sent.body["messages"][0]["role"] == "system"
    assert "DesignAgent" in sent.body["messages"][0]["content"]
    assert "JSON array" in sent.body["messages"][0]["content"]
    assert "User accounts" in sent.body["messages"][-1]["content"]


async def test_fenced_stories_are_parsed(chat_server: ChatServer) -> None:
    url, _ = chat_server.base_url("fenced")
    provider = OpenAIProvider(url, API_KEY, MODEL)
    try:
        stories = await provider.propose_stories("User accounts")
    finally:
        await provider.aclose()
    assert [story.title for story in stories] == ["Sign up with email", "Reset a password"]


async def test_at_most_ten_stories(chat_server: ChatServer) -> None:
    url, _ = chat_server.base_url("many")
    provider = OpenAIProvider(url, API_KEY, MODEL)
    try:
        stories = await provider.propose_stories("Everything")
    finally:
        await provider.aclose()
    assert [story.title for story in stories] == [f"Story {n}" for n in range(10)]


@pytest.mark.parametrize(
    ("scenario", "message"),
    [
        ("malformed", "JSON array"),
        ("badschema", "expected shape"),
        ("error500", "HTTP 500"),
        ("notjson", "not JSON"),
    ],
)
async def test_bad_story_answers_raise_provider_error(
    chat_server: ChatServer, scenario: str, message: str
) -> None:
    url, _ = chat_server.base_url(scenario)
    provider = OpenAIProvider(url, API_KEY, MODEL)
    try:
        with pytest.raises(ProviderError, match=message) as caught:
            await provider.propose_stories("User accounts")
    finally:
        await provider.aclose()
    assert str(caught.value).startswith("DesignAgent: ")


async def test_stories_timeout_raises_provider_error(chat_server: ChatServer) -> None:
    url, _ = chat_server.base_url("slow")
    provider = OpenAIProvider(url, API_KEY, MODEL, timeout_s=0.3)
    started = time.monotonic()
    try:
        with pytest.raises(ProviderError, match=r"DesignAgent: .*timed out after 0\.3 s"):
            await provider.propose_stories("User accounts")
    finally:
        await provider.aclose()
    assert time.monotonic() - started < 2


async def test_run_phase_ok_reports_progress(chat_server: ChatServer) -> None:
    url, run = chat_server.base_url("text")
    provider = OpenAIProvider(url, API_KEY, MODEL)
    progress = Progress()
    request = phase_request(
        previous_outputs={"DESIGN": "Use a User table."},
        hint="Check the email format first",
        attempt=1,
    )
    try:
        result = await provider.run_phase(request, progress)
    finally:
        await provider.aclose()
    assert result.ok
    assert result.output == "Design: a User table and a signup endpoint."
    assert result.error is None
    assert progress.calls == [10, 90]
    [sent] = chat_server.requests[run]
    system, user = sent.body["messages"]
    assert "QAAgent" in system["content"]
    assert "TEST_RED" in system["content"]
    for expected in (
        "Sign up with email",
        "A duplicate is refused",
        "Use a User table.",
        "Check the email format first",
    ):
        assert expected in user["content"]


async def test_run_phase_output_is_truncated(chat_server: ChatServer) -> None:
    url, _ = chat_server.base_url("long")
    provider = OpenAIProvider(url, API_KEY, MODEL)
    try:
        result = await provider.run_phase(phase_request(), Progress())
    finally:
        await provider.aclose()
    assert result.ok
    assert len(result.output) == MAX_OUTPUT_CHARS


async def test_run_phase_http_500_fails_with_the_status(chat_server: ChatServer) -> None:
    url, _ = chat_server.base_url("error500")
    provider = OpenAIProvider(url, API_KEY, MODEL)
    progress = Progress()
    try:
        result = await provider.run_phase(phase_request(), progress)
    finally:
        await provider.aclose()
    assert not result.ok
    assert result.output == ""
    assert result.error is not None
    assert "500" in result.error
    assert "out of memory" in result.error
    assert result.error.startswith("QAAgent TEST_RED: ")
    assert progress.calls == [10]


async def test_run_phase_timeout_fails_quickly(chat_server: ChatServer) -> None:
    url, _ = chat_server.base_url("slow")
    provider = OpenAIProvider(url, API_KEY, MODEL, timeout_s=0.3)
    started = time.monotonic()
    try:
        result = await provider.run_phase(phase_request(), Progress())
    finally:
        await provider.aclose()
    assert time.monotonic() - started < 2
    assert not result.ok
    assert result.error is not None
    assert "timed out after 0.3 s" in result.error


async def test_run_phase_connection_refused_fails() -> None:
    port = free_port()  # nothing listens there
    provider = OpenAIProvider(f"http://127.0.0.1:{port}/v1", API_KEY, MODEL, timeout_s=5)
    started = time.monotonic()
    try:
        result = await provider.run_phase(phase_request(), Progress())
    finally:
        await provider.aclose()
    assert time.monotonic() - started < 2
    assert not result.ok
    assert result.output == ""
    assert result.error is not None
    assert "cannot reach the model endpoint" in result.error


@pytest.mark.parametrize(
    ("scenario", "message"),
    [("nochoices", "no choices"), ("empty", "empty content"), ("notjson", "not JSON")],
)
async def test_run_phase_bad_answers_fail(
    chat_server: ChatServer, scenario: str, message: str
) -> None:
    url, _ = chat_server.base_url(scenario)
    provider = OpenAIProvider(url, API_KEY, MODEL)
    try:
        result = await provider.run_phase(phase_request(), Progress())
    finally:
        await provider.aclose()
    assert not result.ok
    assert result.error is not None
    assert message in result.error


async def test_authorization_header_and_model_are_sent(chat_server: ChatServer) -> None:
    url, run = chat_server.base_url("auth")
    provider = OpenAIProvider(url, API_KEY, MODEL)
    try:
        answer = await provider.reply("CodeAgent", "How is it going?", {"task": "t1"})
    finally:
        await provider.aclose()
    assert answer == "authorised"
    [sent] = chat_server.requests[run]
    assert sent.headers["authorization"] == f"Bearer {API_KEY}"
    assert sent.body["model"] == MODEL
    assert sent.body["messages"][-1] == {"role": "user", "content": "How is it going?"}
    assert '"task": "t1"' in sent.body["messages"][0]["content"]


async def test_no_key_sends_no_authorization_header(chat_server: ChatServer) -> None:
    url, run = chat_server.base_url("auth")
    provider = OpenAIProvider(url, None, MODEL)
    try:
        with pytest.raises(ProviderError, match=r"CodeAgent: .*HTTP 401.*missing API key"):
            await provider.reply("CodeAgent", "Hello?", {})
        result = await provider.run_phase(phase_request(), Progress())
    finally:
        await provider.aclose()
    assert not result.ok
    assert result.error is not None
    assert "401" in result.error
    assert all("authorization" not in sent.headers for sent in chat_server.requests[run])
