"""The API token file (api/token_file.py): created once, private, explained when unusable."""
from __future__ import annotations

import os
import re
import stat

import pytest

from orchestrator.api.token_file import TokenFileError, ensure_token, read_token


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
