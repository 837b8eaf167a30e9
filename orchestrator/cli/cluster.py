"""``cloud init``, ``cloud status``, ``cloud events``."""
from __future__ import annotations

from orchestrator.cli.client import Client
from orchestrator.cli.tables import (
    EVENT_COLUMNS,
    event_rows,
    format_status,
    names,
    table,
)


def cmd_init(c: Client, a):
    data = c.call("POST", "/api/init")
    created = data.get("created") or {} if isinstance(data, dict) else {}
    if created.get("pods") or created.get("apps"):
        return data, (f"cluster initialized: created pods {names(created.get('pods', []))}; "
                      f"apps {names(created.get('apps', []))}")
    return data, "cluster already initialized: nothing to create"


def cmd_status(c: Client, a):
    data = c.call("GET", "/api/status")
    return data, format_status(data)


def cmd_events(c: Client, a):
    events = c.call("GET", "/api/events", params={"limit": a.limit})
    return events, table(event_rows(events), EVENT_COLUMNS)
