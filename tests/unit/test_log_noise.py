"""A broker outage in the logs: two lines of ours, library repeats turned into DEBUG."""

from __future__ import annotations

import logging

import pytest

from services.common.bus_amqp import BrokerOutage
from services.common.logs import LibraryNoise


def _record(name: str, level: int, message: str) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("aiormq.connection", "error when creating transport: <AMQPConnectionError: (111, '')>"),
        ("aiormq.connection", "Cancelling cause reader exited abnormally"),
        (
            "aiormq.connection",
            'Unexpected connection close from remote "amqp://guest:******@127.0.0.1:5672/", '
            'Connection.Close(reply_code=320, reply_text="CONNECTION_FORCED")',
        ),
        (
            "aio_pika.tools",
            "Callback <OneShotCallback: cb=<bound method RobustChannel._on_close of <x>>> "
            'error: RuntimeError: <Connection: "amqp://" at 0x1> closed',
        ),
        (
            "aio_pika.tools",
            "Callback <OneShotCallback: cb=<bound method RobustChannel._on_close of <x>>> "
            "error: ChannelInvalidStateError: No active transport in channel",
        ),
    ],
)
def test_known_library_repeats_become_debug(name: str, message: str) -> None:
    """Each is dropped at INFO and kept (as DEBUG) when DEBUG is on."""
    root = logging.getLogger()
    before = root.level
    try:
        root.setLevel(logging.INFO)
        record = _record(name, logging.ERROR, message)
        assert LibraryNoise().filter(record) is False
        assert record.levelname == "DEBUG"
        root.setLevel(logging.DEBUG)
        assert LibraryNoise().filter(_record(name, logging.ERROR, message)) is True
    finally:
        root.setLevel(before)


def test_other_library_errors_stay_errors() -> None:
    """Only the listed messages are touched: another callback error keeps its level."""
    record = _record("aio_pika.tools", logging.ERROR, "Callback <x> error: KeyError: 'y'")
    assert LibraryNoise().filter(record) is True
    assert record.levelname == "ERROR"


def test_an_outage_is_two_lines(caplog: pytest.LogCaptureFixture) -> None:
    """Lost once (however many attempts fail), back once with how long it took."""
    outage = BrokerOutage(1.0)
    with caplog.at_level(logging.WARNING, logger="services.common.bus_amqp"):
        outage.restored(None)  # the first connection is not a recovery
        outage.lost(None, ConnectionError("reset"))
        outage.lost(None, ConnectionError("refused"))
        outage.lost(None, ConnectionError("refused"))
        outage.restored(None)
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 2
    assert messages[0].startswith("lost the connection to RabbitMQ (ConnectionError('reset'))")
    assert messages[1].startswith("reconnected to RabbitMQ after ")


def test_an_outage_of_both_connections_is_two_lines(caplog: pytest.LogCaptureFixture) -> None:
    """Publishing and consuming connections drop together: back once both are."""
    outage = BrokerOutage(1.0)
    publishing, consuming = object(), object()
    with caplog.at_level(logging.WARNING, logger="services.common.bus_amqp"):
        outage.lost(publishing, ConnectionError("reset"))
        outage.lost(consuming, ConnectionError("reset"))
        outage.restored(publishing)
        assert len(caplog.records) == 1
        outage.restored(consuming)
    assert [r.getMessage()[:24] for r in caplog.records] == [
        "lost the connection to R",
        "reconnected to RabbitMQ ",
    ]


def test_our_own_shutdown_is_not_an_outage(caplog: pytest.LogCaptureFixture) -> None:
    """Closing the bus closes the connection: no warning."""
    outage = BrokerOutage(1.0)
    outage.closing = True
    with caplog.at_level(logging.WARNING, logger="services.common.bus_amqp"):
        outage.lost(None, None)
    assert caplog.records == []
