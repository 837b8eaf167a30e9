"""Where the API is, and one HTTP request to it: ``Client.call`` returns the decoded
answer or raises ``CliError`` (one line, with its exit code).

The API address may name several managers (``--api``, ``$SIMPLECLOUD_API`` or
``.simplecloud/api``: comma or line separated, e.g. the virtual IP first, then
each manager). A request goes to the first that answers; a manager that
cannot be connected to (refused, no route, no answer within
``CONNECT_TIMEOUT``) is passed over for the next, and the one that answered is
used first for the rest of the command (its ``--wait`` polls included). A read
(GET) that one manager answers with 503 (it could not reach etcd in time, as
while etcd elects a leader) is asked of the next manager too; a write is
never sent twice."""
from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import requests
import urllib3

DEFAULT_API = "http://127.0.0.1:5000"


CONFIG_DIR = ".simplecloud"


TIMEOUT = 30.0
CONNECT_TIMEOUT = 2.0     # seconds to connect to one manager before trying the next

EXIT_OK, EXIT_API, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_WAIT = 0, 1, 2, 3, 4


class CliError(Exception):
    """A failure to report as one line, with the exit code to use (and the
    HTTP status of an API's error answer)."""

    def __init__(self, message: str, code: int = EXIT_API, status: int | None = None):
        super().__init__(message)
        self.code = code
        self.status = status

    @property
    def transient(self) -> bool:
        """Whether asking again later may succeed: no manager reached, or 503."""
        return self.code == EXIT_UNREACHABLE or self.status == 503


def find_config_file(name: str, start: Path | None = None) -> Path | None:
    """``.simplecloud/<name>`` in ``start`` (default: cwd) or the nearest parent."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        candidate = directory / CONFIG_DIR / name
        if candidate.is_file():
            return candidate
    return None


def resolve_ca(flag: str | None, environ=None) -> str | None:
    """The CA file for an https API: --ca, $SIMPLECLOUD_CA, .simplecloud/ca.pem, or None."""
    environ = os.environ if environ is None else environ
    path = flag or environ.get("SIMPLECLOUD_CA") or find_config_file("ca.pem")
    if path is None:
        return None
    if not Path(path).is_file():
        raise CliError(f"the CA file {path} does not exist (--ca / $SIMPLECLOUD_CA)", EXIT_USAGE)
    return str(path)


def resolve(flag: str | None, env_var: str, file_name: str, default: str | None,
            environ=None, start: Path | None = None) -> str | None:
    """Flag, then environment variable, then config file, then default."""
    environ = os.environ if environ is None else environ
    if flag:
        return flag
    if environ.get(env_var):
        return environ[env_var]
    path = find_config_file(file_name, start)
    if path is not None:
        try:
            value = path.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise CliError(f"cannot read {path}: {exc.strerror}", EXIT_USAGE) from None
        if value:
            return value
    return default


def addresses(api: str) -> list[str]:
    """The API addresses in ``api`` (comma, space or line separated), in order."""
    found = [a.strip().rstrip("/") for a in api.replace("\n", ",").replace(" ", ",").split(",")]
    return [a for a in found if a] or [DEFAULT_API]


class Client:
    """Sends one request per call and returns the decoded JSON answer."""

    def __init__(self, api: str, token: str | None, timeout: float = TIMEOUT, ca: str | None = None):
        self.apis = addresses(api)
        self.api = self.apis[0]
        self.token = token
        self.timeout = timeout
        self.verify = ca or True        # requests: a CA file, or the system's CAs

    def call(self, method: str, path: str, body: dict | None = None, params: dict | None = None):
        """The request to the first manager that can be connected to (see the module docstring)."""
        unreachable, busy = [], None
        for api in [self.api] + [a for a in self.apis if a != self.api]:
            try:
                answer = self._call(api, method, path, body, params)
            except CliError as exc:
                if method == "GET" and exc.status == 503:
                    busy = exc
                    continue
                if exc.code != EXIT_UNREACHABLE or not getattr(exc, "connect", False):
                    raise
                unreachable.append(api)
                continue
            self.api = api
            return answer
        if busy is not None:
            raise busy
        where = unreachable[0] if len(unreachable) == 1 else "any of " + ", ".join(unreachable)
        raise CliError(f"cannot reach the simplecloud API at {where} (is the lab up? try: make up)",
                       EXIT_UNREACHABLE)

    def _call(self, api: str, method: str, path: str, body: dict | None, params: dict | None):
        headers = {"Accept": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        try:
            response = requests.request(method, api + path, json=body, params=params, headers=headers,
                                        timeout=(min(CONNECT_TIMEOUT, self.timeout), self.timeout),
                                        verify=self.verify)
        except requests.exceptions.SSLError:
            raise CliError(f"cannot verify the TLS certificate of {api}: give the CA that signed it "
                           "with --ca, $SIMPLECLOUD_CA or .simplecloud/ca.pem (the lab's)",
                           EXIT_UNREACHABLE) from None
        except requests.exceptions.ConnectTimeout:
            raise _unreachable(api) from None
        except requests.exceptions.Timeout:
            raise CliError(f"the simplecloud API at {api} did not answer within {self.timeout:g} s",
                           EXIT_UNREACHABLE) from None
        except requests.exceptions.InvalidURL as exc:
            raise CliError(f"the API address {api!r} is not a valid URL ({exc}); "
                           "fix --api, $SIMPLECLOUD_API or .simplecloud/api", EXIT_USAGE) from None
        except requests.exceptions.ConnectionError as exc:
            # the request never left (refused, no route) or, for a GET, did not matter if it did
            raise _unreachable(api, retry=method == "GET" or _never_sent(exc)) from None
        except (requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema):
            raise _unreachable(api) from None
        try:
            data = response.json()
        except ValueError:
            raise CliError(f"unexpected answer from {api}{path}: HTTP {response.status_code}, not JSON "
                           "(is --api / $SIMPLECLOUD_API the simplecloud manager?)") from None
        if response.status_code >= 400:
            message = data.get("error") if isinstance(data, dict) else None
            raise CliError(message or f"HTTP {response.status_code} from {path}", status=response.status_code)
        return data


def _unreachable(api: str, retry: bool = True) -> CliError:
    """The error of a manager that could not be reached; with ``retry`` the next one is tried."""
    error = CliError(f"cannot reach the simplecloud API at {api} (is the lab up? try: make up)",
                     EXIT_UNREACHABLE)
    error.connect = retry           # type: ignore[attr-defined]  # read by Client.call
    return error


def _never_sent(exc: requests.exceptions.ConnectionError) -> bool:
    """Whether the connection failed before the request was sent (refused, no route, no name)."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def q(value) -> str:
    """One URL path segment: a name such as "../apps/x" stays one segment
    (the server then refuses it as an invalid name) instead of a new path.
    "", "." and ".." are refused here: HTTP clients resolve them as directory
    steps ("/api/pods/p/nodes/.." would become "/api/pods/p/")."""
    text = str(value)
    if text in ("", ".", ".."):
        raise CliError(f"{text!r} is not a valid name: use lowercase letters, digits and '-' "
                       "(e.g. 'web-1')", EXIT_USAGE)
    return quote(text, safe="")
