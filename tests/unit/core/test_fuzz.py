"""Hypothesis fuzzing of the one validation layer (core/fields.py, core/schema.py, core/validate.py).

1. Whatever the validation accepts, haproxy.cfg renders, and the real HAProxy
   accepts the file: tests/integration/test_haproxy_accepts.py, on the
   clusters() drawn here (the integration tier installs haproxy).
2. Whatever the validation refuses, it refuses with ValidationError (a 400
   with a message), never with another exception.
3. The patterns mean the same in pydantic (Rust regex) and in Python's ``re``
   with fullmatch: a value is accepted exactly when it fully matches, ASCII only.

Example counts are bounded so that the whole file runs in seconds.
"""
from __future__ import annotations

import re
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from orchestrator.core import fields, schema, validate
from orchestrator.core.errors import Conflict, ValidationError
from orchestrator.core.model import BALANCE_ALGORITHMS, Server
from orchestrator.core.naming import backend_name, server_name
from tests.unit.core.test_validate import image

FEW = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MANY = settings(max_examples=300, deadline=None)


def matching(pattern: str, max_len: int, min_len: int = 0):
    return st.from_regex(pattern, fullmatch=True).filter(lambda s: min_len <= len(s) <= max_len)


names = matching(fields.LABEL, fields.MAX_APP_NAME, 1)
paths = matching(fields.PATH, fields.MAX_PATH)
hosts = matching(fields.HOST, fields.MAX_HOST, 1)
images = matching(fields.IMAGE, fields.MAX_IMAGE, 1)
# no lone surrogates (Cs): they have no UTF-8 form, and pydantic refuses them as it should
commands = st.lists(st.text(st.characters(exclude_characters="\0", exclude_categories=("Cs",)), max_size=20),
                    min_size=1, max_size=4).filter(
    lambda args: args[0] != "")


@st.composite
def app_specs(draw, name):
    """A deploy request built from values the schema's own patterns generate."""
    spec = {"name": name, "pod": draw(names), "port": draw(st.integers(1, 65535)),
            "balance": draw(st.sampled_from(BALANCE_ALGORITHMS)),
            "health_path": draw(st.just("") | paths), "strip_path": draw(st.booleans()),
            "security": draw(st.sampled_from(fields.SECURITY_PROFILES))}
    if draw(st.booleans()):
        spec["image"] = draw(images)
    else:
        spec["command"] = draw(commands)
    route = draw(st.sampled_from(["path", "host", "both", "none"]))
    if route in ("path", "both"):
        spec["path"] = draw(paths)
    if route in ("host", "both"):
        spec["host"] = draw(hosts)
    return spec


@st.composite
def clusters(draw):
    """Accepted apps (unique names) with a few servers each."""
    app_names = draw(st.lists(names, min_size=1, max_size=4, unique=True))
    apps = [validate.app_of(validate.parse(schema.AppSpec, draw(app_specs(n)), "the app"), 0.0) for n in app_names]
    servers = {}
    for app in apps:
        nodes = draw(st.lists(names, max_size=3, unique=True))
        servers[backend_name(app)] = [
            Server(backend_name(app), server_name(node, draw(st.text("0123456789abcdef", min_size=10, max_size=10))),
                   f"10.42.{draw(st.integers(0, 255))}.{draw(st.integers(1, 254))}", app.port, "ready", None)
            for node in nodes]
    return apps, servers


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=8)


def near(fields):
    """Objects whose keys are mostly real field names: they get past the
    unknown-field check and reach the value checks."""
    return st.dictionaries(st.sampled_from(fields) | st.text(max_size=8), json_values, max_size=len(fields))


@pytest.mark.parametrize("model, fields", [(schema.AppSpec, validate.APP_FIELDS),
                                           (schema.PodSpec, validate.POD_FIELDS)], ids=["deploy", "pod"])
def test_bodies_are_accepted_or_refused_with_a_validation_error(model, fields):
    @MANY
    @given(body=json_values | near(fields))
    def check(body):
        try:
            validate.parse(model, body, "the body")
        except ValidationError as exc:
            assert exc.status == 400 and exc.message
    check()


@MANY
@given(body=json_values | near(validate.UPDATE_FIELDS))
def test_update_bodies_are_accepted_or_refused_with_a_validation_error(body):
    app = validate.app_of(validate.parse(schema.AppSpec, {"name": "web", "pod": "light", "port": 80,
                                                          "image": "nginx"}, "the app"), 0.0)
    try:
        validate.updated(app, validate.parse(schema.AppUpdate, body, "the update"))
    except Conflict as exc:                  # well formed, but would leave the app without a route
        assert "needs a route" in exc.message
    except ValidationError as exc:
        assert exc.status == 400 and exc.message


CHECKS = [(validate.name, fields.LABEL, fields.MAX_NAME), (validate.path, fields.PATH, fields.MAX_PATH),
          (validate.hostname, fields.HOST, fields.MAX_HOST), (image, fields.IMAGE, fields.MAX_IMAGE),
          (validate.health_path, fields.HEALTH_PATH, fields.MAX_PATH)]
# Text that is close to valid: the grammar's own characters, plus the ones that broke things before.
near_text = st.text(string.ascii_letters + string.digits + "-._~/:@\n\t #'\"éı٣ａ", max_size=40)


@pytest.mark.parametrize("check, pattern, max_len", CHECKS, ids=lambda x: getattr(x, "__name__", ""))
@MANY
@given(value=near_text | st.text(max_size=40))
def test_accepted_exactly_when_the_pattern_fully_matches_in_ascii(check, pattern, max_len, value):
    expected = bool(re.fullmatch(pattern, value)) and value.isascii() and len(value) <= max_len
    if check in (validate.name, validate.hostname, image) and value == "":
        expected = False
    try:
        check(value)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == expected, value
