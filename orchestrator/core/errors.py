"""One exception root for everything the orchestrator refuses to do.

Every error carries the HTTP status the API answers with and a message written
for the person who made the request: it says what was wrong *and what to
change*. The API turns any `SimpleCloudError` into `to_dict()` JSON with that
status; the CLI prints the message as is.

Status choices:
- 400 `ValidationError`: a value in the request is malformed or out of range
  (we use 400 for every bad value, never 422, so clients have one code to
  handle). `field` names the offending input field.
- 401 `Unauthorized`: missing or wrong API token.
- 404 `NotFound`: the named pod/app/node does not exist.
- 409 `Conflict`: the request is well formed but clashes with current state
  (name taken, pod not empty, no NEW node to launch, concurrent change).
- 409 `CapacityError`: a Conflict because a pod has no free node slots left.
- 409 `StaleCount`: a Conflict because the pod changed between the read a
  change was computed from and its write (the caller recomputes).
- 503 `Unavailable`: etcd (the state store) cannot be reached right now.
"""

from __future__ import annotations

from typing import Any


class SimpleCloudError(Exception):
    """Base class: an error with an HTTP status and a human message."""

    status: int = 500
    done: list[Any] = []
    """What a change made in batches had done before it failed (the nodes of
    earlier batches, edges/store/nodes.py); empty for everything else."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.message = message
        self.field = field

    def to_dict(self) -> dict[str, Any]:
        """JSON body for the API: {"error": message, "field": field?}."""
        body: dict[str, Any] = {"error": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body

    def __str__(self) -> str:
        return self.message


class ValidationError(SimpleCloudError):
    """A request value is invalid; `field` says which one."""

    status = 400

    def __init__(self, field: str | None, message: str):
        super().__init__(message, field)


class Unauthorized(SimpleCloudError):
    status = 401


class NotFound(SimpleCloudError):
    status = 404


class Conflict(SimpleCloudError):
    status = 409


class CapacityError(Conflict):
    """A pod cannot take the requested number of new nodes."""


class StaleCount(Conflict):
    """The pod's node count is not the one the caller read before computing
    its change (``expect_count``): another request changed the pod meanwhile.
    ``done`` says what earlier batches of the change had already written."""


class Unavailable(SimpleCloudError):
    """A backing service (etcd) cannot be reached; retry later."""

    status = 503


class NotLeader(Unavailable):
    """This manager is not (or no longer) the leader, so it must not act on
    hosts, HAProxy or the controllers' records (edges/election.py)."""
