"""GET /metrics (api/prometheus.py) without a controller: open, valid, the API still wants the token."""
from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from orchestrator import __version__
from orchestrator.api import create_app
from orchestrator.observe.telemetry import CONTENT_TYPE
from orchestrator.usecases import UseCases


def test_metrics_without_a_controller_answer_open_and_valid(store):
    app = create_app(UseCases.over(store), token="t0ken")
    client = app.test_client()
    answer = client.get("/metrics")                   # no token: open, like HAProxy's exporter
    assert answer.status_code == 200 and answer.headers["Content-Type"] == CONTENT_TYPE
    families = {f.name: f for f in text_string_to_metric_families(answer.get_data(as_text=True))}
    assert families["simplecloud_controller_running"].samples[0].value == 0
    assert families["simplecloud_build_info"].samples[0].labels == {"version": __version__}
    assert client.get("/api/status").status_code == 401      # the API still wants the token
