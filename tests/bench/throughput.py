"""Commands per second at saturation: Huddle beside the bare floor, in the same run.

100 clients (in worker processes) each keep 2 commands in flight for a fixed time; the
figure counts the `command_result`s that arrived within it. `python -m tests.bench --only
throughput`.
"""

from __future__ import annotations

from tests.bench.clients import worker_pool
from tests.bench.figures import BenchContext, Figure, Target
from tests.bench.roundtrip import systems

CLIENTS = 100
WINDOW = 2  # commands in flight per client: enough to keep every process busy
METHOD = """100 clients in 4 worker processes each keep 2 `/project list` commands in
flight for 3 rounds of 5 s, Huddle and the floors taking turns round by round; the figure is
the number of `command_result`s that arrived within the rounds' 15 s, per second. Same users
and raised limits as the round trip."""
TARGET = Target("floor", 0.4, "at least 40% of the bare chain's")


def measure(ctx: BenchContext) -> list[Figure]:
    """Commands per second at saturation, Huddle and the floor."""
    rounds, duration = (1, 3.0) if ctx.quick else (3, 5.0)
    counted: dict[str, int] = {}
    with systems(ctx, CLIENTS) as run, worker_pool(4) as pool:
        # Turn by turn, like the round trip: a slow spell of the machine falls on every system.
        for n in range(rounds):
            for system in run.names:
                print(
                    f"  throughput: {system}, {CLIENTS} clients x {WINDOW} in flight, "
                    f"round {n + 1}/{rounds}, {duration} s"
                )
                outcome = run.drive(
                    pool,
                    system,
                    CLIENTS,
                    processes=4,
                    commands=1_000_000,  # bounded by time: sending stops after `duration`
                    duration_s=duration,
                    window=WINDOW,
                )
                counted[system] = counted.get(system, 0) + outcome.in_window
    rates = {system: count / (rounds * duration) for system, count in counted.items()}
    return [
        Figure(
            "Throughput",
            f"commands/s at saturation ({CLIENTS} clients, {WINDOW} in flight each)",
            "commands/s",
            rates["huddle"],
            rates["floor"],
            better="higher",
            target=TARGET,
        ),
        Figure(
            "Throughput",
            "commands/s at saturation, beside the durable floor (quorum queue, persistent)",
            "commands/s",
            rates["huddle"],
            rates["durable"],
            better="higher",
            note="no target: shows what durability costs the bare chain",
        ),
    ]
