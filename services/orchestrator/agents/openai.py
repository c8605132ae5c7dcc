"""The OpenAI-compatible provider: agents backed by any chat-completions endpoint.

Works with OpenAI itself and with anything that speaks the same API (vLLM, Ollama, LM Studio,
llama.cpp server, LiteLLM...): `POST {base_url}/chat/completions` with a model, messages and a
temperature, and the answer in `choices[0].message.content`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from typing import Annotated

import httpx
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, TypeAdapter, ValidationError

from .provider import PHASES, PhaseRequest, PhaseResult, Progress, ProviderError, StoryProposal

log = logging.getLogger(__name__)

MAX_STORIES = 10
MAX_OUTPUT_CHARS = 4000
# How much of each earlier phase's output goes back into the next prompt.
_MAX_PREVIOUS_CHARS = 2000
_EXCERPT_CHARS = 200

_STORY_TEMPERATURE = 0.2
_PHASE_TEMPERATURE = 0.2
_REPLY_TEMPERATURE = 0.5

_AGENT_ROLES = {
    "DesignAgent": (
        "You are the DesignAgent of a small software team that works in Scrum sprints and "
        "strictly follows test-driven development. You turn epics into user stories with "
        "testable acceptance criteria, and you design the solution before anyone writes code."
    ),
    "QAAgent": (
        "You are the QAAgent of a small software team that strictly follows test-driven "
        "development. You turn acceptance criteria into precise automated tests that fail "
        "before the feature exists, and you care about edge cases and clear failure messages."
    ),
    "CodeAgent": (
        "You are the CodeAgent of a small software team that strictly follows test-driven "
        "development. You write the simplest code that makes the failing tests pass, then "
        "improve its design without changing behaviour, and commit small, well-described changes."
    ),
}

_PHASE_INSTRUCTIONS = {
    "DESIGN": (
        "Phase DESIGN (before any test or code): describe the design for this story: the "
        "components and their responsibilities, interfaces and data, and the list of "
        "acceptance tests that the next phase must write. Do not write the implementation."
    ),
    "TEST_RED": (
        "Phase TEST_RED (the 'red' step of TDD): write the automated tests for the acceptance "
        "criteria, following the design. The tests must fail now because the feature does not "
        "exist yet; say briefly why each one fails. Do not write the implementation."
    ),
    "CODE_GREEN": (
        "Phase CODE_GREEN (the 'green' step of TDD): write the simplest implementation that "
        "makes the tests from TEST_RED pass, and nothing more. Confirm which tests now pass."
    ),
    "REFACTOR": (
        "Phase REFACTOR (the 'refactor' step of TDD): improve the structure of the code from "
        "CODE_GREEN (names, duplication, small functions) without changing its behaviour; "
        "all tests must stay green. List the changes you made."
    ),
    "COMMIT": (
        "Phase COMMIT (the end of the TDD cycle): summarise the change and write the commit "
        "message, in Conventional Commits style (e.g. 'feat: ...'), for the tests and code of "
        "the earlier phases."
    ),
}

_STORIES_INSTRUCTIONS = (
    "Break the epic the user gives you into between 2 and {max} user stories. Answer ONLY "
    "with a JSON array, no prose and no Markdown. Each element is an object with exactly these "
    'keys: "title" (a short string), "description" (a string, ideally "As a ... I want ... so '
    'that ..."), "acceptance_criteria" (an array of short, testable strings) and "priority" '
    "(an integer from 1, the most important, to 5)."
)

_FENCE = re.compile(r"```[A-Za-z0-9_-]*[ \t]*\n?(.*?)```", re.DOTALL)

_Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class _Story(BaseModel):
    """One story as the model must write it."""

    model_config = ConfigDict(extra="ignore")

    title: _Text
    description: Annotated[str, StringConstraints(strip_whitespace=True)]
    acceptance_criteria: list[_Text]
    priority: Annotated[int, Field(ge=1, le=5)] = 3


_STORIES = TypeAdapter(list[_Story])


class _Message(BaseModel):
    content: str | None = None


class _Choice(BaseModel):
    message: _Message


class _Completion(BaseModel):
    """The part of a chat-completions answer that matters here."""

    choices: list[_Choice] = Field(default_factory=list)


def _excerpt(text: str, limit: int = _EXCERPT_CHARS) -> str:
    """`text` on one line, cut to about `limit` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def _truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters, marking the cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _seconds(value: float) -> str:
    return f"{value:g} s"


def _role(agent: str) -> str:
    return _AGENT_ROLES.get(
        agent,
        f"You are {agent}, an agent of a small software team that works in Scrum sprints and "
        "strictly follows test-driven development.",
    )


def _strip_fences(text: str) -> str:
    """The contents of the first ``` block in `text`, or `text` itself if there is none."""
    match = _FENCE.search(text)
    return match.group(1) if match else text


def _first_json_array(text: str) -> list[object] | None:
    """The first JSON array found anywhere in `text`, or None."""
    decoder = json.JSONDecoder()
    start = text.find("[")
    while start != -1:
        try:
            value, _ = decoder.raw_decode(text, start)
        except ValueError:
            pass
        else:
            if isinstance(value, list):
                return value
        start = text.find("[", start + 1)
    return None


def parse_stories(text: str, agent: str = "DesignAgent") -> list[StoryProposal]:
    """Stories from a model's answer, or `ProviderError` saying what is wrong with it."""
    items = _first_json_array(_strip_fences(text))
    if items is None:
        items = _first_json_array(text)  # the array may sit outside a fenced block
    if items is None:
        raise ProviderError(
            f"{agent}: the model did not answer with a JSON array of stories: {_excerpt(text)!r}"
        )
    try:
        stories = _STORIES.validate_python(items)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(map(str, error['loc'])) or 'answer'}: {error['msg']}"
            for error in exc.errors()[:3]
        )
        raise ProviderError(
            f"{agent}: the model's stories do not match the expected shape ({problems})"
        ) from exc
    if not stories:
        raise ProviderError(f"{agent}: the model proposed no stories")
    return [
        StoryProposal(
            title=story.title,
            description=story.description,
            acceptance_criteria=list(story.acceptance_criteria),
            priority=story.priority,
        )
        for story in stories[:MAX_STORIES]
    ]


def _phase_prompt(request: PhaseRequest) -> str:
    """The user message of a phase: the story, what came before, and any hint."""
    criteria = "\n".join(f"- {item}" for item in request.acceptance_criteria) or "- (none given)"
    parts = [
        f"Story: {request.story_title}",
        f"Description: {request.story_description or '(none given)'}",
        f"Acceptance criteria:\n{criteria}",
    ]
    ordered = [phase for phase in PHASES if phase in request.previous_outputs]
    ordered += [phase for phase in request.previous_outputs if phase not in PHASES]
    if ordered:
        previous = "\n\n".join(
            f"[{phase}]\n{_truncate(request.previous_outputs[phase], _MAX_PREVIOUS_CHARS)}"
            for phase in ordered
        )
        parts.append(f"Output of the earlier phases:\n{previous}")
    if request.attempt > 0:
        parts.append(f"This is attempt {request.attempt + 1}; the earlier attempts failed.")
    if request.hint:
        parts.append(f"A human on the team suggests this fix; apply it: {request.hint}")
    parts.append(f"Now do the {request.phase} phase.")
    return "\n\n".join(parts)


class OpenAIProvider:
    """Agents backed by an OpenAI-compatible chat-completions endpoint.

    Every request is bounded by `timeout_s` as a whole (connecting, sending and reading), so a
    stuck endpoint becomes an error, never a hang.
    """

    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        model: str,
        timeout_s: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._model = model
        self._timeout_s = timeout_s
        headers = {"Accept": "application/json"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._client = httpx.AsyncClient(
            headers=headers,
            timeout=httpx.Timeout(timeout_s),
            transport=transport,
        )

    async def propose_stories(self, epic_title: str) -> list[StoryProposal]:
        agent = "DesignAgent"
        system = f"{_role(agent)}\n\n{_STORIES_INSTRUCTIONS.format(max=MAX_STORIES)}"
        text = await self._complete(
            agent,
            [
                {"role": "system", "content": system},
                {"role": "user", "content": f"Epic: {epic_title}"},
            ],
            _STORY_TEMPERATURE,
        )
        return parse_stories(text, agent)

    async def run_phase(self, request: PhaseRequest, progress: Progress) -> PhaseResult:
        instructions = _PHASE_INSTRUCTIONS.get(
            request.phase, f"Phase {request.phase}: do this phase of the TDD cycle for the story."
        )
        messages = [
            {"role": "system", "content": f"{_role(request.agent)}\n\n{instructions}"},
            {"role": "user", "content": _phase_prompt(request)},
        ]
        label = f"{request.agent} {request.phase}"
        await progress(10)
        try:
            text = await self._complete(label, messages, _PHASE_TEMPERATURE)
        except ProviderError as exc:
            log.warning("phase failed: %s", exc)
            return PhaseResult(ok=False, output="", error=str(exc))
        except Exception as exc:  # the contract: a phase fails, it never raises
            log.exception("unexpected error in %s", label)
            return PhaseResult(
                ok=False, output="", error=f"{label}: unexpected error: {type(exc).__name__}: {exc}"
            )
        await progress(90)
        return PhaseResult(ok=True, output=_truncate(text, MAX_OUTPUT_CHARS))

    async def reply(self, agent: str, message: str, context: dict[str, object]) -> str:
        system = (
            f"{_role(agent)}\n\nA human on the team sends you a direct message in the team chat. "
            "Answer briefly and helpfully, in plain text, as yourself."
        )
        if context:
            system += "\n\nContext:\n" + json.dumps(context, default=str, ensure_ascii=False)
        return await self._complete(
            agent,
            [{"role": "system", "content": system}, {"role": "user", "content": message}],
            _REPLY_TEMPERATURE,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _complete(
        self, label: str, messages: list[dict[str, str]], temperature: float
    ) -> str:
        """The assistant's text for `messages`, stripped, or `ProviderError` saying why not."""
        body = {"model": self._model, "messages": messages, "temperature": temperature}
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._client.post(self._url, json=body)
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise ProviderError(
                f"{label}: the model endpoint timed out after {_seconds(self._timeout_s)}"
            ) from exc
        except httpx.ConnectError as exc:
            raise ProviderError(
                f"{label}: cannot reach the model endpoint at {self._url} "
                f"({str(exc) or 'connection refused'})"
            ) from exc
        except httpx.HTTPError as exc:
            raise ProviderError(
                f"{label}: the request to the model endpoint failed "
                f"({type(exc).__name__}: {str(exc) or 'no details'})"
            ) from exc

        if not response.is_success:
            raise ProviderError(
                f"{label}: the model endpoint answered HTTP {response.status_code}: "
                f"{_excerpt(response.text) or '(empty body)'}"
            )
        try:
            data = response.json()
        except ValueError as exc:
            raise ProviderError(
                f"{label}: the model endpoint's answer is not JSON: {_excerpt(response.text)!r}"
            ) from exc
        try:
            completion = _Completion.model_validate(data)
        except ValidationError as exc:
            raise ProviderError(
                f"{label}: the model endpoint's answer is not a chat completion: "
                f"{_excerpt(json.dumps(data, default=str))}"
            ) from exc
        if not completion.choices:
            detail = data.get("error") if isinstance(data, dict) else None
            suffix = f" ({_excerpt(json.dumps(detail, default=str))})" if detail else ""
            raise ProviderError(f"{label}: the model endpoint's answer has no choices{suffix}")
        text = (completion.choices[0].message.content or "").strip()
        if not text:
            raise ProviderError(f"{label}: the model answered with empty content")
        return text
