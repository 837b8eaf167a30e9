"""The composition root (server.py): what it builds and hands out, without a manager running."""
from __future__ import annotations

import pytest

from orchestrator import server
from orchestrator.api.token_file import read_token
from orchestrator.settings import Settings
from orchestrator.usecases import UseCases
from tests.unit.fakes import FakeStore


def test_the_web_app_requires_the_token_of_the_token_file(tmp_path):
    settings = Settings.of(token_file=str(tmp_path / "etc" / "token"))
    app = server.build_web_app(settings, UseCases.over(FakeStore()))
    token = read_token(settings.api.token_file)
    c = app.test_client()
    assert c.post("/api/init").status_code == 401
    assert c.post("/api/init", headers={"Authorization": f"Bearer {token}"}).status_code == 200


def test_haproxy_is_told_where_the_api_and_the_waker_listen():
    driver = server.build_haproxy(Settings.of(api_bind="127.0.0.1:5123", waker_port=5002))
    assert (driver.api_port, driver.waker_port) == (5123, 5002)


@pytest.mark.parametrize("bind", ["5000", ":5000", "host:port", "host:0", "host:70000"])
def test_a_bad_bind_is_refused_in_words(bind):
    with pytest.raises(ValueError, match="HOST:PORT"):
        server.parse_bind(bind)
