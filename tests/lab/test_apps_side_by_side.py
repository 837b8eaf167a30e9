"""Three apps at once behind the one HAProxy: the light job at /light, a
plain `python3 -m http.server` at /files (prefix stripped) on pod medium,
and the medium job image routed by Host header. Each answers only its own
route, and no request for one app reaches another app's nodes."""
from __future__ import annotations

import pytest

from tests.lab.conftest import (
    CONVERGE,
    app_names,
    app_nodes,
    cloud,
    cloud_json,
    cloud_ok,
    get,
    nodes_seen,
    responses,
    wait_served_by,
    wait_until,
)

pytestmark = pytest.mark.lab

FILES, HOSTAPP, HOST = "files", "mhost", "medium.example"


@pytest.fixture
def three_apps(light_empty):
    def clean():
        present = app_names()
        for app in (FILES, HOSTAPP):
            if app in present:
                cloud("app", "stop", app)
    clean()
    cloud_ok("app", "scale", "light", "2")
    cloud_ok("app", "deploy", FILES, "--command", "python3 -m http.server 9000", "--pod", "medium",
             "--replicas", "2", "--port", "9000", "--path", "/files", "--strip-path")
    medium_image = next(a["image"] for a in cloud_json("app", "ls") if a["name"] == "medium")   # the job's
    cloud_ok("app", "deploy", HOSTAPP, "--image", medium_image, "--pod", "medium",
             "--replicas", "2", "--port", "8000", "--host", HOST, "--health-path", "/health")
    yield {app: {n["name"] for n in app_nodes(app)} for app in ("light", FILES, HOSTAPP)}
    clean()
    cloud("app", "scale", "light", "0")


def is_listing(answer) -> bool:
    status, body = answer
    return status == 200 and isinstance(body, str) and "Directory listing for /" in body


def test_three_apps_side_by_side(three_apps):
    light, files, mhost = three_apps["light"], three_apps[FILES], three_apps[HOSTAPP]
    assert len(light) == 2 and len(files) == 2 and len(mhost) == 2
    assert not (light & files or light & mhost or files & mhost)

    # all three come up
    seen = wait_served_by("/light", light)
    assert set(seen) == light, f"/light: {seen}"
    seen = wait_served_by("/medium", mhost, host=HOST)
    assert set(seen) == mhost, f"Host {HOST} /medium: {seen}"
    assert wait_until(lambda: all(is_listing(a) for a in responses("/files/", 6)), CONVERGE), \
        f"/files/ never listed a directory: {get('/files/')}"

    others = light | mhost | files
    # /light: only light nodes, only the light job
    for status, body in responses("/light", 12):
        assert status == 200 and body["job"] == "light" and body["node"] in light, (status, body)
    # the Host-routed app: only its nodes, the medium job
    for status, body in responses("/medium", 12, host=HOST):
        assert status == 200 and body["job"] == "medium" and body["node"] in mhost, (status, body)
    # /files: the http.server (prefix stripped: /files/ is its root), never a job answer
    for answer in responses("/files/", 8):
        assert is_listing(answer), answer
    # its containers' hostname is the node name: /etc/hostname names the node that answered
    served_by = set()
    for status, body in responses("/files/etc/hostname", 8):
        assert status == 200 and isinstance(body, str), (status, body)
        served_by.add(body.strip())
    assert served_by == files, f"/files answered by {served_by}, its nodes are {files}"

    # nothing crosses over
    # /medium without the Host: the built-in medium job app (0 replicas) -> 503, not mhost
    for status, body in responses("/medium", 6):
        assert status == 503, (status, body)
    # the Host-routed app's job server only knows /medium: /light there is not a light node
    for status, body in responses("/light", 6, host=HOST):
        assert not (isinstance(body, dict) and body.get("node") in light), (status, body)
    # /files never reaches a job node
    for status, body in responses("/files/", 6, host=HOST) + responses("/files/light", 4):
        assert not (isinstance(body, dict) and body.get("node") in others), (status, body)
    # a route nobody serves
    assert get("/nothing-here")[0] == 404
    # and a burst on /light after all of that is still only light
    assert set(nodes_seen("/light", 10)) <= light
