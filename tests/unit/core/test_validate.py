"""Every validation rule, with the message that tells the user what to change."""

import dataclasses

import pytest

from orchestrator.core import fields, schema, validate
from orchestrator.core.errors import Conflict, ValidationError
from orchestrator.core.model import Pod


def refused(fn, *args, field=None, says=()):
    with pytest.raises(ValidationError) as info:
        fn(*args)
    err = info.value
    if field is not None:
        assert err.field == field
    for text in (says if isinstance(says, tuple) else (says,)):
        assert text in err.message, err.message
    assert err.status == 400
    return err


def checker(annotation, field):
    """The API's check of one field (core/validate.check) as a function of the value."""
    def check(value):
        return validate.check(annotation, value, field)
    check.__name__ = field
    return check


port = checker(fields.Port, "port")
replicas = checker(fields.Replicas, "replicas")
cpus = checker(fields.Cpus, "cpus")
memory_mb = checker(fields.MemoryMb, "memory_mb")
max_nodes = checker(fields.MaxNodes, "max_nodes")
command = checker(fields.Command, "command")
image = checker(fields.Image, "image")


@pytest.mark.parametrize("good", ["a", "web-1", "x" * 63, "0abc9"])
def test_names_accepted(good):
    assert validate.name(good) == good


@pytest.mark.parametrize("bad,says", [
    ("", "required"), (None, "required"), ("-web", "not starting or ending with '-'"),
    ("web-", "not starting"), ("Web", "lowercase"), ("a_b", "lowercase"), ("a/b", "lowercase"),
    ("x" * 64, "at most 63"), (7, "must be a string"),
    ("web\n", "not a valid name"), ("web\n\n", "not a valid name"), ("wéb", "not a valid name"),
    ("ｗeb", "not a valid name"), ("٣", "not a valid name"),
])
def test_names_refused(bad, says):
    refused(validate.name, bad, "name", "node name", field="name", says=says)


@pytest.mark.parametrize("value,expected", [(1, 1), (65535, 65535), (8080, 8080), (80.0, 80)])
def test_ports_accepted(value, expected):
    assert port(value) == expected


@pytest.mark.parametrize("bad,says", [(0, "from 1 to 65535"), (65536, "from 1 to 65535"),
                                      (True, "must be an integer, not a boolean"),
                                      ("http", "must be an integer, not a string"),
                                      ("8080", "must be an integer, not a string"),   # JSON types as sent
                                      ("٨٠", "must be an integer"),                   # Arabic-Indic digits
                                      (1.5, "must be an integer"), (1e300, "must be an integer")])
def test_ports_refused(bad, says):
    refused(port, bad, field="port", says=says)


def test_replicas_bounds():
    assert replicas(0) == 0
    refused(replicas, -1, field="replicas", says="from 0 to")


def test_warm_bounds_on_deploy_and_update():
    warm = checker(fields.Warm, "warm")
    assert warm(0) == 0 and warm(fields.MAX_WARM) == fields.MAX_WARM
    refused(warm, fields.MAX_WARM + 1, field="warm", says="warm must be a whole number from 0 to 32, got 33")
    refused(warm, -1, field="warm", says="from 0 to 32")
    app, _ = app_spec(spec(warm=3))
    assert app.warm == 3 and app_spec(spec())[0].warm == 0
    refused(app_spec, spec(warm="2"), field="warm")
    refused(validate.parse, schema.AppUpdate, {"warm": 33}, "the update", field="warm", says="from 0 to 32")
    refused(validate.parse, schema.AppUpdate, {"warm": None}, "the update", field="warm")


def test_balance():
    for algo in ("roundrobin", "leastconn", "random", "first", "source"):
        assert validate.balance(algo) == algo
    refused(validate.balance, "static-rr", field="balance",
            says=("'static-rr'", "roundrobin, leastconn, random, first, source"))


@pytest.mark.parametrize("good", ["/", "/web", "/api/v1", "/a.b-c_d~e"])
def test_paths_accepted(good):
    assert validate.path(good) == good


@pytest.mark.parametrize("bad,says", [
    ("web", "must start with '/'"), ("/web/", "clean path prefix"), ("//web", "clean"),
    ("/a//b", "clean"), ("/a/../b", "'..'"), ("/a/./b", "clean"), ("/a?x=1", "no query"), ("/a b", "clean"),
])
def test_paths_refused(bad, says):
    refused(validate.path, bad, field="path", says=says)


def test_hostnames():
    assert validate.hostname("Web.Example.org") == "web.example.org"
    assert validate.hostname("pod-light") == "pod-light"
    refused(validate.hostname, "bad_host", field="host", says="not a valid host name")
    refused(validate.hostname, "-a.b", field="host")
    refused(validate.hostname, "", field="host", says="required")


def test_cpus_and_memory():
    assert cpus(0.25) == 0.25 and cpus(1) == 1.0 and cpus(0.01) == 0.01
    refused(cpus, 0, field="cpus", says="from 0.01 to 64")
    refused(cpus, 1e-10, field="cpus", says="from 0.01 to 64, got 1e-10")   # nano_cpus 0 = unlimited
    refused(cpus, -1, field="cpus")
    refused(cpus, float("nan"), field="cpus")
    refused(cpus, float("inf"), field="cpus")
    refused(cpus, "lots", field="cpus", says="must be a number")
    refused(cpus, "1", field="cpus", says="must be a number")
    refused(cpus, True, field="cpus")
    assert memory_mb(128) == 128 and memory_mb(16) == 16
    refused(memory_mb, 15, field="memory_mb", says="from 16")
    refused(max_nodes, 0, field="max_nodes", says="from 1 to 1000")


def test_command_is_an_argument_list_never_a_shell():
    assert command(["nc", "-lk", "-p", "9000"]) == ("nc", "-lk", "-p", "9000")
    assert command(["sh", "-c", "echo $HOME; ls"]) == ("sh", "-c", "echo $HOME; ls")
    assert command(["echo", ""]) == ("echo", "")
    refused(command, "nc -lk -p 9000", field="command", says="must be a list")   # the CLI splits
    refused(command, [], field="command", says="non-empty list")
    refused(command, ["nc", 9000], field="command", says="non-empty list")
    refused(command, ["nc", "a\0b"], field="command", says="without NUL bytes")
    refused(command, [""], field="command", says="must not be empty")
    refused(command, ["x"] * 65, field="command", says="at most 64")
    refused(command, ["x", "y" * 1025], field="command", says="at most 1024 characters")
    refused(command, ["x" * 1000] * 9, field="command", says="at most 8192 bytes")    # 9,000 bytes in all
    assert command(["x" * 1024] * 8) == ("x" * 1024,) * 8                         # 8,192: the limit


@pytest.mark.parametrize("good", ["nginx", "nginx:1.25", "simplecloud/light", "manager:5050/simplecloud/light",
                                  "debian:bookworm-slim", "a/b/c:v1.2-rc_3",
                                  "nginx@sha256:" + "a" * 64, "localhost/x:latest"])
def test_images_accepted(good):
    assert image(good) == good


@pytest.mark.parametrize("bad", ["Nginx", "nginx:", "nginx:tag with space", "-nginx", "a//b", ":tag",
                                 "nginx@sha256:xyz", "nginx\n", "nginx:1.25\n", "nginx:tä", "nginx:１",
                                 "ngínx", "x" * 256, "nginx@sha256:" + "A" * 64, "nginx@md5:" + "a" * 32])
def test_images_refused(bad):
    refused(image, bad, field="image", says="not a valid image reference")
    refused(image, "", field="image", says="image is required")


def pod_spec(body):
    """A Pod from a register request, as the API and the pods use case make it."""
    m = validate.parse(schema.PodSpec, body, "the pod")
    return Pod(m.name, m.host_names(), m.max_nodes, m.cpus, m.memory_mb, m.app)


def app_spec(body):
    """(App, replicas) from a deploy request, as the API and the apps use case make them."""
    m = validate.parse(schema.AppSpec, body, "the app")
    return validate.app_of(m, created=0.0), m.replicas


def test_pod_spec():
    pod = pod_spec({"name": "batch", "host": "pod-heavy", "max_nodes": 4, "cpus": 1, "memory_mb": 512})
    assert pod == Pod("batch", ("pod-heavy",), 4, 1.0, 512, None)
    assert pod_spec({"name": "b", "hosts": ["h1", "H2"]}).hosts == ("h1", "h2")
    refused(pod_spec, {"name": "b", "host": "h", "max_nodes": 1, "cpus": 1, "memory_mb": 64,
                                "size": 3, "zone": "x"},
            field="size", says=("unknown fields 'size', 'zone'", "allowed fields are name, hosts, host"))
    refused(pod_spec, {"name": "b", "max_nodes": 1, "cpus": 1, "memory_mb": 64}, field="hosts",
            says="give exactly one of hosts")
    refused(pod_spec, {"name": "b", "host": "a", "hosts": ["b"]}, field="hosts", says="not both")
    refused(pod_spec, {"name": "b", "hosts": []}, field="hosts", says="must be a list of 1 to 64 host names")
    refused(pod_spec, {"name": "b", "hosts": ["a", "a"]}, field="hosts", says="names a host twice")
    refused(pod_spec, {"name": "b", "hosts": ["a b"]}, field="hosts", says="must be a list of 1 to 64")
    assert pod_spec({"name": "b", "host": "h"}) == Pod("b", ("h",), 10, 0.5, 256, None)


def spec(**over):
    base = {"name": "web", "pod": "light", "port": 8080, "image": "nginx:1.25"}
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


def test_app_spec_defaults():
    app, replicas = app_spec(spec())
    assert replicas == 1
    assert (app.path, app.host, app.balance, app.health_path, app.command) == ("/web", None, "roundrobin", "", None)
    app, replicas = app_spec(spec(image=None, command=["nc", "-lk", "-p", "9000"], replicas=3,
                                           host="nc.local"))
    assert app.command == ("nc", "-lk", "-p", "9000") and app.path is None and app.host == "nc.local"
    assert replicas == 3


def test_app_spec_refusals():
    refused(app_spec, spec(command=["nc"]), field="image", says="exactly one of image")
    refused(app_spec, spec(image=None), field="image", says="exactly one of image")
    refused(app_spec, spec(replica=2), field="replica", says="unknown field 'replica'")
    refused(app_spec, spec(security="root"), field="security", says="not a security profile")
    refused(app_spec, spec(path="/webx\n"), field="path", says="not a clean path prefix")
    refused(app_spec, spec(host="web.example\n"), field="host", says="not a valid host name")
    refused(app_spec, spec(health_path="/h\n"), field="health_path", says="not a clean path")
    refused(app_spec, spec(port=None), field="port", says="'port' is required")
    refused(app_spec, spec(name="Web"), field="name")
    refused(app_spec, spec(name="x" * 57), field="name", says="at most 56")
    refused(app_spec, spec(balance="hash"), field="balance")
    refused(app_spec, spec(health_path="health"), field="health_path")
    refused(app_spec, spec(replicas=-2), field="replicas")
    refused(app_spec, "not a dict", says="JSON object")


def test_an_update_replaces_image_or_command_and_keeps_a_route():
    app, _ = app_spec(spec())
    assert validate.updated(app, validate.parse(schema.AppUpdate, {"command": ["nc"]}, "u")).image is None
    assert validate.updated(app, validate.parse(schema.AppUpdate, {"host": "w.example"}, "u")).path == "/web"
    with pytest.raises(Conflict, match="needs a route"):
        validate.updated(app, validate.parse(schema.AppUpdate, {"path": None}, "u"))


def test_a_route_is_taken_by_path_and_host_together():
    web, _ = app_spec(spec())
    other, _ = app_spec(spec(name="other", path="/web", host="a.example"))
    validate.route_free(other, [web])                           # same path, but only for host a.example
    with pytest.raises(Conflict, match="path '/web' is already the route of app 'web'"):
        validate.route_free(web, [web, other], ignore="other")
    validate.route_free(web, [web], ignore="web")
    by_host, _ = app_spec(spec(name="h", image="nginx", host="h.example"))
    by_host = dataclasses.replace(by_host, path=None)
    with pytest.raises(Conflict, match="host 'h.example' is already the route of app 'h'"):
        validate.route_free(dataclasses.replace(by_host, name="h2"), [by_host])
