"""Every setting is in docs/protocol.md's settings table, with the default the code has; the
shorter tables of README.md and docs/operations.md say the same defaults."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic_settings import BaseSettings

from services.auth.settings import AuthSettings
from services.common.runtime_settings import RuntimeSettings
from services.embedded import EmbeddedSettings
from services.metrics.settings import MetricsSettings
from services.orchestrator.settings import OrchestratorSettings
from services.sync.settings import SyncSettings

ROOT = Path(__file__).resolve().parents[2]
PROTOCOL = ROOT / "docs" / "protocol.md"
OTHER_TABLES = (ROOT / "README.md", ROOT / "docs" / "operations.md")
CLASSES: tuple[type[BaseSettings], ...] = (
    EmbeddedSettings,  # the gateway's and the common ones, and the embedded port
    AuthSettings,
    OrchestratorSettings,
    SyncSettings,
    MetricsSettings,
    RuntimeSettings,
)
ROW = re.compile(r"^\| `HUDDLE_([A-Z0-9_]+)` \| ([^|]*) \|", re.MULTILINE)
NUMBER = re.compile(r"^-?\d[\d_]*(\.\d+)?")


def documented(page: Path = PROTOCOL) -> dict[str, str]:
    """Setting name → the default cell of its row in the page's table (one setting a row).

    In protocol.md only the rows of "## 9. Settings" count: a row of another table that
    names a setting is not its entry in the list of settings."""
    text = page.read_text()
    if page == PROTOCOL:
        text = text.split("\n## 9. Settings\n", 1)[1].split("\n## ", 1)[0]
    return {name.lower(): cell.strip() for name, cell in ROW.findall(text)}


def defaults() -> dict[str, Any]:
    """Setting name → its default, over every service's settings."""
    found: dict[str, Any] = {}
    for cls in CLASSES:
        for name, field in cls.model_fields.items():
            found.setdefault(name, field.default)
    return found


def test_every_setting_is_documented() -> None:
    missing = sorted(set(defaults()) - set(documented()))
    assert not missing, f"settings missing from docs/protocol.md's table: {missing}"


def test_documented_numbers_are_the_defaults() -> None:
    """A number in a default column is the code's default (a changed default shows here)."""
    wrong = []
    code = defaults()
    rows = [(page, row) for page in (PROTOCOL, *OTHER_TABLES) for row in documented(page).items()]
    for page, (name, cell) in rows:
        number = NUMBER.match(cell)
        default = code.get(name)
        if number is None or isinstance(default, bool) or not isinstance(default, int | float):
            continue
        if float(number.group(0).replace("_", "")) != float(default):
            wrong.append(f"{page.name}: HUDDLE_{name.upper()} {cell!r}, code has {default!r}")
    assert not wrong, "\n".join(wrong)
