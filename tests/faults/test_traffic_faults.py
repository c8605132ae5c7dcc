"""Faults under traffic: each service killed, or all restarted in turn (a deploy); RabbitMQ or
Redis restarted or out of memory.

Each test runs a few clients sending a command and a chat message in turn every 50 ms, breaks
one component, and checks that every command was answered exactly once or refused
`unavailable`, that every accepted message is in the history once and in order, that every
client received the whole channel, and that the stack serves again within 10 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from tests.faults.private_rabbitmq import PrivateRabbitMQ
from tests.faults.private_redis import PrivateRedis
from tests.faults.traffic import (
    SERVE_AGAIN_S,
    check_commands,
    check_messages,
    dead_letters,
    during_traffic,
    metric_value,
    serving_again,
    talkers_on,
)
from tests.processes import free_port, wait_ready
from tests.services_env import Backends
from tests.stack import Stack, run_stack

TALKERS = 3
QUEUES = ("orchestrator.commands", "sync.events", "sync.changes", "metrics.events")


@pytest.fixture(scope="module")
def stack(
    rabbitmq: PrivateRabbitMQ, redis_server: PrivateRedis, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The five services on a RabbitMQ and a Redis of their own, signing with a key file.

    With a key file, as in production, tokens outlive a restart of auth (a generated
    development key would die with the process).
    """
    key_file = tmp_path_factory.mktemp("keys") / "signing-key.pem"
    key_file.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
    )
    env = {
        "HUDDLE_SIGNING_KEY_FILE": str(key_file),
        "HUDDLE_RATE_LIMIT_PER_S": "5000",
        "HUDDLE_RATE_LIMIT_BURST": "5000",
        # The probes for "serving again" log in afresh, up to ten times a second, until it is.
        "HUDDLE_HTTP_RATE_LIMIT_PER_MIN": "0",
        "HUDDLE_QUEUE_POLL_S": "0.5",
        # What the freezes are timed against (their defaults, pinned so the tests say so): a
        # 5 s Redis freeze outlasts the fan-out probes, a 7 s broker freeze the confirm wait.
        "HUDDLE_FANOUT_PROBE_S": "1",
        "HUDDLE_PUBLISH_TIMEOUT_S": "5",
    }
    own = Backends(rabbitmq.url, redis_server.url)
    with run_stack(own, tmp_path_factory.mktemp("traffic-faults"), env) as running_stack:
        yield running_stack


async def survives(
    stack: Stack,
    name: str,
    breaks: Callable[[], Awaitable[None]],
    *,
    urls: Sequence[Sequence[str]] | None = None,
    in_doubt: int = 0,
) -> dict[str, int]:
    """Talk, let `breaks` break a component and bring it back, then check everything; returns
    what became of the commands (answered, unavailable, ...)."""
    urls = urls or [[stack.ws_url]] * TALKERS
    talkers, project_id, token = await talkers_on(stack.ws_url, stack.url("auth"), urls, name)

    async def fault() -> float:
        await breaks()
        returned = time.monotonic()
        probe_urls = sorted({url for own in urls for url in own})
        await serving_again(probe_urls, stack.url("auth"), project_id)
        return time.monotonic() - returned

    try:
        serve_s = await during_traffic(talkers, fault)
        commands = await check_commands(talkers)
        chat = await check_messages(talkers, stack.url("sync"), token, in_doubt=in_doubt)
        reconnects = sum(t.reconnects for t in talkers)
        print(f"{name}: commands {commands}, messages {chat}, {reconnects} reconnects,")
        print(f"{name}: serving again {serve_s:.2f} s after the component returned")
        assert commands.get("answered", 0) > 0
        assert serve_s < SERVE_AGAIN_S
        assert await dead_letters(stack.url("metrics"), QUEUES) == 0
        return commands
    finally:
        for talker in talkers:
            await talker.client.close()


async def killed(stack: Stack, service: str) -> None:
    """kill -9 a service, leave it dead for a second, start it again (not waiting for it)."""
    stack.processes.kill(service)
    await asyncio.sleep(1.0)
    stack.processes.start(service, f"services.{service}")


async def test_orchestrator_killed_mid_traffic(stack: Stack) -> None:
    """kill -9 the orchestrator: what it held is redelivered and answered once, nothing lost."""
    await survives(stack, "orchestrator-kill", lambda: killed(stack, "orchestrator"))


async def test_sync_killed_mid_traffic(stack: Stack) -> None:
    """kill -9 sync: the events it held are redelivered and appended once (ids), none is lost."""
    await survives(stack, "sync-kill", lambda: killed(stack, "sync"))
    series = 'huddle_bus_redelivered_total{queue="sync.events"}'
    # How often the kill caught events appended but not yet acked depends on the moment.
    print(f"sync-kill: {await metric_value(stack.url('sync'), series):.0f} redelivered")


async def test_auth_killed_mid_traffic(stack: Stack) -> None:
    """kill -9 auth: connected clients go on; their tokens still verify once it is back."""
    await survives(stack, "auth-kill", lambda: killed(stack, "auth"))


async def test_metrics_killed_mid_traffic(stack: Stack) -> None:
    """kill -9 metrics: clients notice nothing; its events wait in its queue meanwhile."""
    await survives(stack, "metrics-kill", lambda: killed(stack, "metrics"))


@contextlib.asynccontextmanager
async def orchestrator_with(stack: Stack, **env: str) -> AsyncIterator[subprocess.Popen[bytes]]:
    """The stack's orchestrator restarted with `env` added; restarted without it afterwards."""
    await restarted(stack, "orchestrator", **env)
    try:
        yield stack.processes["orchestrator"]
    finally:
        await restarted(stack, "orchestrator")


async def frozen(process: subprocess.Popen[bytes], for_s: float) -> None:
    """SIGSTOP a process (a stalled VM, a blocked loop) for `for_s`, then SIGCONT it."""
    os.kill(process.pid, signal.SIGSTOP)
    try:
        await asyncio.sleep(for_s)
    finally:
        os.kill(process.pid, signal.SIGCONT)


async def test_orchestrator_frozen_mid_traffic(stack: Stack) -> None:
    """The orchestrator stops answering for 5 s, past its 1 s AMQP heartbeat (the broker gives
    up on a silent client 2 to 3 heartbeats after its last frame): the broker drops
    its connections and takes back the messages it held. Thawed, it finishes the handlings it
    was in (whose acks can no longer be sent) while the broker delivers the same messages
    again: each command is still answered once and each message kept once, in order."""
    async with orchestrator_with(stack, HUDDLE_AMQP_HEARTBEAT_S="1") as orchestrator:
        before = await redelivered_commands(stack)
        await survives(stack, "orchestrator-freeze", lambda: frozen(orchestrator, 5.0))
        again = await redelivered_commands(stack) - before
    print(f"orchestrator-freeze: {again:.0f} commands delivered again")
    assert again > 0, "the broker kept the frozen orchestrator's connection"


async def redelivered_commands(stack: Stack) -> float:
    """The orchestrator's count of commands the broker delivered again."""
    series = 'huddle_bus_redelivered_total{queue="orchestrator.commands"}'
    return await metric_value(stack.url("orchestrator"), series)


@contextlib.asynccontextmanager
async def second_gateway(stack: Stack) -> AsyncIterator[list[list[str]]]:
    """Another gateway beside the stack's; yields each talker's gateway URLs, its own first
    (two start on the stack's gateway, one on the second)."""
    port = free_port()
    second = stack.processes.start("gateway-b", "services.gateway", HUDDLE_GATEWAY_PORT=str(port))
    await asyncio.to_thread(wait_ready, f"http://127.0.0.1:{port}/readyz", second)
    other = f"ws://127.0.0.1:{port}/ws"
    try:
        yield [[stack.ws_url, other], [stack.ws_url, other], [other, stack.ws_url]]
    finally:
        # The stack's own gateway is back (the next test talks to it) before this one goes.
        await asyncio.to_thread(
            wait_ready, stack.url("gateway") + "/readyz", stack.processes["gateway"]
        )
        second.terminate()
        await asyncio.to_thread(second.wait, 15)


async def test_gateway_killed_mid_traffic(stack: Stack) -> None:
    """kill -9 a gateway: its clients resume on the other one and miss nothing."""
    async with second_gateway(stack) as urls:
        await survives(stack, "gateway-kill", lambda: killed(stack, "gateway"), urls=urls)


async def restarted(stack: Stack, service: str, **env: str) -> None:
    """SIGTERM a service, as a deploy does, wait for it to exit, start it (with `env` added)
    and wait until ready."""
    await asyncio.to_thread(stack.processes.stop, service)
    started = stack.processes.start(service, f"services.{service}", **env)
    await asyncio.to_thread(wait_ready, stack.url(service) + "/readyz", started)


async def test_rolling_restart_mid_traffic(stack: Stack) -> None:
    """Every service stopped gracefully (SIGTERM) and started again in turn, as a deploy does:
    the gateway's clients resume on the other one, nothing is lost or answered twice."""

    async def deploy() -> None:
        for service in ("gateway", "orchestrator", "sync", "metrics", "auth"):
            await restarted(stack, service)

    async with second_gateway(stack) as urls:
        await survives(stack, "rolling-restart", deploy, urls=urls)


async def test_redis_restarted_mid_traffic(stack: Stack, redis_server: PrivateRedis) -> None:
    """Redis stops for a second and comes back with its append-only file."""
    await survives(stack, "redis-restart", lambda: asyncio.to_thread(redis_server.restart, 1.0))


async def test_redis_out_of_memory_mid_traffic(stack: Stack, redis_server: PrivateRedis) -> None:
    """Redis refuses every write for 3 s (`maxmemory`): handlings wait, none is dead-lettered."""
    await survives(stack, "redis-oom", lambda: asyncio.to_thread(redis_server.out_of_memory, 3.0))


async def test_redis_frozen_mid_traffic(stack: Stack, redis_server: PrivateRedis) -> None:
    """Redis stops answering for 5 s (SIGSTOP) with its connections left open: calls wait (or
    time out and are retried), the fan-out subscriptions miss their probes and are rebuilt,
    and the gaps are replayed from history once it answers again."""
    process = redis_server.process
    assert process is not None
    log = stack.processes.log_dir / "gateway.log"
    resyncs = log.read_text().count("filling the gap from history")
    await survives(stack, "redis-freeze", lambda: frozen(process, 5.0))
    assert log.read_text().count("filling the gap from history") > resyncs


async def test_rabbitmq_restarted_mid_traffic(stack: Stack, rabbitmq: PrivateRabbitMQ) -> None:
    """The broker stops and starts again: commands meanwhile are refused, none is lost.

    A publish in flight when the broker closed the connection may have been taken: the gateway
    publishes it again with the same id instead of refusing it, so nothing refused is kept.
    """
    await survives(stack, "rabbitmq-restart", lambda: asyncio.to_thread(rabbitmq.restart, 1.0))


async def test_rabbitmq_frozen_mid_traffic(stack: Stack, rabbitmq: PrivateRabbitMQ) -> None:
    """The broker stops answering for 7 s (SIGSTOP), its connections left open: no confirm
    comes for longer than `HUDDLE_PUBLISH_TIMEOUT_S` (5 s), so the publishes in flight are in
    doubt; the gateway waits on for their late confirms rather than refusing them or sending
    copies behind them, and they are answered late, once."""
    before = await gateway_publishes_failed(stack)

    async def freeze() -> None:
        await asyncio.to_thread(rabbitmq.freeze, 7.0)

    commands = await survives(stack, "rabbitmq-freeze", freeze)
    in_doubt = await gateway_publishes_failed(stack) - before
    print(f"rabbitmq-freeze: {in_doubt:.0f} publishes of the gateway in doubt")
    assert in_doubt > 0, "no publish waited past the confirm timeout"
    assert commands.get("unavailable", 0) == 0, "a publish in doubt was refused"


async def gateway_publishes_failed(stack: Stack) -> float:
    """The gateway's count of publishes (commands, chat, changes) the broker did not confirm
    in time, or refused."""
    series = 'huddle_bus_published_total{exchange="commands",outcome="failed"}'
    return await metric_value(stack.url("gateway"), series)


async def test_rabbitmq_memory_alarm_mid_traffic(stack: Stack, rabbitmq: PrivateRabbitMQ) -> None:
    """The broker blocks publishers for 8 s (a memory alarm), then takes them again."""
    await survives(stack, "rabbitmq-alarm", lambda: asyncio.to_thread(rabbitmq.memory_alarm, 8.0))
