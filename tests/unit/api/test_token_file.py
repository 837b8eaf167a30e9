"""The API token file (api/token_file.py): created once, private, explained when unusable."""
from __future__ import annotations

import os
import re
import stat
import threading

import pytest

from orchestrator import server
from orchestrator.api import token_file
from orchestrator.api.token_file import TokenFileError, ensure_token, read_token
from tests.unit.fakes import FakeStore


def test_ensure_token_creates_a_private_file_once(tmp_path):
    path = tmp_path / "etc" / "simplecloud" / "token"
    token = ensure_token(path)
    assert len(token) >= 43 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert ensure_token(path) == token == read_token(path)
    assert ensure_token(tmp_path / "other") != token


def test_read_token_explains_an_empty_or_missing_file(tmp_path):
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(TokenFileError, match="is empty"):
        read_token(tmp_path / "empty")
    with pytest.raises(TokenFileError, match="cannot read"):
        read_token(tmp_path / "missing")


def test_two_managers_starting_at_once_share_one_token(tmp_path, monkeypatch):
    """The winner is slow to write its token; the loser never sees an empty
    file (it used to, and died with a traceback): both end with one token."""
    path = tmp_path / "token"
    real_write, got = token_file._write, {}
    writing, loser_done = threading.Event(), threading.Event()

    def slow_write(fd, token):
        if threading.current_thread().name == "slow":
            writing.set()
            loser_done.wait(10)            # the other manager starts and finishes meanwhile
        real_write(fd, token)

    monkeypatch.setattr(token_file, "_write", slow_write)
    slow = threading.Thread(target=lambda: got.setdefault("slow", ensure_token(path)), name="slow")
    slow.start()
    writing.wait(10)
    got["quick"] = ensure_token(path)
    loser_done.set()
    slow.join(10)
    assert got["slow"] == got["quick"] == read_token(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["token"]       # no temporary file left


def test_the_manager_says_in_one_line_why_it_cannot_use_its_token_file(tmp_path, capsys, monkeypatch):
    (tmp_path / "token").write_text("")
    config = tmp_path / "manager.yaml"
    config.write_text(f"token_file: {tmp_path / 'token'}\n")
    monkeypatch.setattr(server.Store, "from_settings", lambda settings: FakeStore())    # no etcd in this tier
    assert server.main(["--config", str(config), "--no-controller", "--bind", "127.0.0.1:59999"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("simplecloud-manager: the API token file") and "Traceback" not in err
