"""The store's low-level tier: one etcd connection, its errors, and the pod guard.

Everything the record modules (pods.py, apps.py, nodes.py, events.py,
observed.py, autoscale.py, watch.py) do to etcd goes through an ``Etcd``:
reads (``get``, ``list``, ``range``) that decode JSON records and skip
damaged ones, and writes (``txn``, ``put``, ``delete``) that turn gRPC
failures into ``SimpleCloudError``s. Keys are given relative to the prefix
(``"pods/light"``, see keys.py). The connection is one gRPC channel over
every member (edges/etcd_client.py); each call waits at most what is left of
its caller's budget (core/budget.py: an API request's 2 s); lists are read in
pages (ranges.py).

The pod guard
-------------
Every change of what lives in a pod (its nodes, and its apps) is a
transaction that writes ``podcount/<pod>``, the pod's *guard*: a list of
comparisons, then writes that etcd applies only if *all* comparisons hold,
atomically, at a single revision. ``guard(pod)`` reads the count (19 of 20,
written at revision R) and returns the comparison "podcount/<pod> was last
written at R" (or "is absent"); the caller checks capacity in Python and
sends its writes with that comparison and a new ``write_guard(pod, 20)``.
Two requests that both read revision R both send that comparison; etcd
serialises transactions, so the first commits and writes the guard again and
the second one's comparison is false: nothing of it is written. The loser
re-reads (podcount 20), sees the pod is full and raises CapacityError. The
guard is compared by its *revision*, not its value, so "one node added,
another removed" in between is seen too. This is optimistic concurrency: no
locks, no leases, and a crash between read and write leaves nothing half-written.
"""
from __future__ import annotations

import builtins
import copy
import itertools
import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

import grpc
from etcd3 import etcdrpc, transactions
from etcd3.exceptions import Etcd3Exception

from orchestrator.core import budget
from orchestrator.core.errors import (
    Conflict,
    NotLeader,
    SimpleCloudError,
    Unavailable,
    ValidationError,
)
from orchestrator.core.model import RecordError
from orchestrator.edges.etcd_client import connect
from orchestrator.edges.store import ranges
from orchestrator.edges.store.ranges import Compacted, prefix_end

log = logging.getLogger("orchestrator.edges.store")

T = TypeVar("T")


class Revision(NamedTuple):
    """A key's revisions as read: ``mod`` (its last write; ``Node.revision``,
    ``App.revision``) and ``create`` (when this incarnation of it was created)."""

    mod: int
    create: int


Decoder = Callable[[Any, Revision, str], T]
"""``decode(json data, revisions, key relative to the prefix)`` → a record;
raises ValueError/TypeError/KeyError (RecordError) for a damaged one."""

LEADER_KEY = "leader"           # the leader's lease key (edges/election.py); its create revision fences
RETRIES = 25                    # attempts of an optimistic transaction before giving up
MAX_TXN_OPS = 128               # etcd's --max-txn-ops (its default): compares, or writes, per Txn
TOO_LARGE = ("too many operations", "request is too large", "larger than max")
"""Words of etcd's/gRPC's refusals of an oversized request (InvalidArgument,
ResourceExhausted): a request error, not an unreachable etcd."""
COMPACTED = "required revision has been compacted"
NO_SPACE = "database space exceeded"


class CorruptRecord(Conflict):
    """One record in etcd is damaged (not JSON, or does not fit the model)."""


class TooLarge(ValidationError):
    """etcd refused a request as too large (too many operations or bytes)."""

    def __init__(self, message: str):
        super().__init__(None, message)


class NoSpace(Unavailable):
    """etcd's database reached its quota (the NOSPACE alarm): it refuses writes."""


def backoff(attempt: int) -> None:
    time.sleep(random.uniform(0, 0.002 * (attempt + 1)))


def chunks(items: Sequence[T], size: int) -> builtins.list[list[T]]:
    """``items`` in lists of at most ``size``; one empty list if there are none."""
    return [list(items[i:i + size]) for i in range(0, len(items), size)] or [[]]


def partial(exc: SimpleCloudError, done: builtins.list[Any], total: int, verb: str) -> SimpleCloudError:
    """Say in ``exc`` that a batched change stopped half-way, and what was done."""
    if done:
        exc.message += f" ({len(done)} of the {total} nodes were {verb} before this)"
        exc.args = (exc.message,)
    exc.done = list(done)
    return exc


class Etcd:
    """One etcd client under one key prefix."""

    def __init__(self, host: str = "127.0.0.1", port: int = 2379, prefix: str = "/simplecloud/",
                 timeout: float = 10.0, tls: tuple[str, str, str] | None = None,
                 endpoints: Sequence[tuple[str, int]] | None = None):
        """``tls`` = (CA file, client certificate file, client key file), or None
        for plain HTTP; ``endpoints``: every member as (host, port), the
        nearest first (default: ``host``:``port`` alone), over one channel
        (edges/etcd_client.py: gRPC limits, keepalives, failover)."""
        self.prefix = prefix if prefix.endswith("/") else prefix + "/"
        self.timeout = timeout
        self.endpoints = list(endpoints or [(host, port)])
        self.tls = tls
        self.max_txn_ops = MAX_TXN_OPS
        """Operations per transaction; set it to etcd's --max-txn-ops if that is lower."""
        self.page = ranges.PAGE
        self.client = connect(self.endpoints, timeout, tls)
        self.kv = etcdrpc.KVStub(self.client.channel)
        self.maintenance = etcdrpc.MaintenanceStub(self.client.channel)
        self.watch_stub = etcdrpc.WatchStub(self.client.channel)
        self.tx = self.client.transactions
        self.seq = itertools.count()
        self.max_events = 1000
        """Events kept (events.py trims beyond it); the Store sets its own."""
        self.on_corrupt: Callable[[str, str], None] = lambda key, message: None
        """Called once per damaged record version with its key and what is wrong (an event)."""
        self._corrupt_reported: set[tuple[str, int]] = set()
        self.epoch_of: Callable[[], int] | None = None
        """Fenced (``fenced``): the leader's epoch to write under, or NotLeader."""

    def fenced(self, epoch_of: Callable[[], int]) -> Etcd:
        """The same connection, but every write is fenced by the leader's epoch:
        a transaction that also compares ``create_revision(leader) == epoch_of()``.
        ``epoch_of`` raises NotLeader when this manager may not act; a write
        that etcd refuses because another manager leads now raises NotLeader too."""
        other = copy.copy(self)
        other.epoch_of = epoch_of
        return other

    def close(self) -> None:
        self.client.close()

    # ---------------------------------------------------------------- calls
    def key(self, *parts: str) -> str:
        return self.prefix + "/".join(parts)

    def wait(self) -> float:
        """Seconds the next call may take: the store's ``timeout``, or less when
        less is left of the caller's budget (core/budget.py: an API request's);
        Unavailable at once when it is spent."""
        left = budget.remaining(self.timeout)
        if left <= 0:
            raise Unavailable("etcd did not answer in time for this request; "
                              "check that etcd runs and answers (cloud status), then try again")
        return left

    def call(self, rpc: Callable[..., T], request: Any) -> T:
        """One gRPC call (``rpc(request, deadline)``), its failures turned into
        SimpleCloudErrors: TooLarge (400) for a request etcd or gRPC finds too
        big, else Unavailable (503)."""
        began = time.monotonic()
        try:
            return rpc(request, self.wait())
        except grpc.RpcError as exc:
            details = exc.details() or ""
            if any(words in details for words in TOO_LARGE):
                raise TooLarge(f"etcd refused the change as too large ({details}); make it in "
                               f"smaller steps, or raise etcd's limits (--max-txn-ops, "
                               f"--max-request-bytes) and Store.max_txn_ops") from exc
            if COMPACTED in details:
                raise Compacted(f"etcd compacted the revision being read ({details})") from exc
            if NO_SPACE in details:
                raise NoSpace("etcd is out of space (its NOSPACE alarm): it refuses every write until an "
                              "operator frees space; see 'etcd is full' in docs/lab.md") from exc
            raise Unavailable(f"etcd is not reachable ({exc.code().name}); "
                              f"check that etcd runs and the settings etcd_endpoints/etcd_host/etcd_port") from exc
        except Etcd3Exception as exc:
            raise Unavailable(f"etcd is not reachable ({type(exc).__name__}); "
                              f"check that etcd runs and the settings etcd_endpoints/etcd_host/etcd_port") from exc
        finally:
            budget.spend(time.monotonic() - began)

    def range(self, rel_prefix: str, *, limit: int = 0, descend: bool = False,
              keys_only: bool = False, count_only: bool = False) -> Any:
        """One Range request over the keys under prefix+rel_prefix, sorted by
        key (only for counts and a few keys: lists read ``pages``)."""
        key = self.key(rel_prefix).encode()
        return self.call(self.kv.Range, ranges.request(key, prefix_end(key), limit, descend, keys_only,
                                                       count_only=count_only))

    def pages(self, rel_prefix: str, *, limit: int = 0, descend: bool = False,
              keys_only: bool = False) -> builtins.list[Any]:
        """Every key-value under prefix+rel_prefix (the first ``limit`` if > 0),
        sorted by key, read in pages (ranges.py)."""
        return ranges.pages(self, rel_prefix, limit, descend, keys_only)

    # ---------------------------------------------------------------- reads
    def get_raw(self, rel_key: str) -> Any | None:
        """The key-value (``value``, ``mod_revision``, ``create_revision``) of one key, or None."""
        answer = self.call(self.kv.Range, etcdrpc.RangeRequest(key=self.key(rel_key).encode()))
        return answer.kvs[0] if answer.kvs else None

    def get(self, rel_key: str, decode: Decoder[T]) -> T | None:
        """One record decoded by ``decode``, or None if absent. CorruptRecord
        (reported once) if it does not decode."""
        kv = self.get_raw(rel_key)
        if kv is None:
            return None
        record = self.decode(rel_key, kv, decode)
        if record is None:
            raise CorruptRecord(f"the record {rel_key} in etcd is damaged (see the store.corrupt "
                                f"event); fix or delete it: etcdctl del {self.key(rel_key)}")
        return record

    def list(self, rel_prefix: str, decode: Decoder[T], *, limit: int = 0,
             descend: bool = False) -> builtins.list[T]:
        """Every record under a prefix that decodes; damaged ones are skipped and reported."""
        out = []
        for kv in self.pages(rel_prefix, limit=limit, descend=descend):
            rel_key = kv.key.decode(errors="replace")[len(self.prefix):]
            record = self.decode(rel_key, kv, decode)
            if record is not None:
                out.append(record)
        return out

    def names(self, rel_prefix: str) -> set[str]:
        """The last parts of the keys under a prefix (damaged records included)."""
        start = len(self.key(rel_prefix))
        return {kv.key.decode(errors="replace")[start:] for kv in self.pages(rel_prefix, keys_only=True)}

    def decode(self, rel_key: str, kv: Any, decode: Decoder[T]) -> T | None:
        """``decode(json, revisions, rel_key)``, or None after reporting a damaged record."""
        try:
            return decode(json.loads(kv.value), Revision(kv.mod_revision, kv.create_revision), rel_key)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:   # JSON, RecordError, enums, pydantic
            self.report_corrupt(rel_key, kv.mod_revision, exc)
            return None

    def report_corrupt(self, rel_key: str, revision: int, exc: Exception) -> None:
        """Log and report (``on_corrupt``) each damaged record version once."""
        if (rel_key, revision) in self._corrupt_reported:
            return
        self._corrupt_reported.add((rel_key, revision))
        why = str(exc) if isinstance(exc, RecordError) else f"{type(exc).__name__}: {exc}"
        message = (f"record {rel_key} in etcd is damaged ({why}); it is skipped until it is "
                   f"fixed or deleted (etcdctl del {self.key(rel_key)})")
        log.warning(message)
        try:
            self.on_corrupt(rel_key, message)
        except SimpleCloudError as err:
            log.warning("cannot record the store.corrupt event: %s", err)

    # ---------------------------------------------------------------- writes
    # Every write of the store goes through txn, put_json and delete.
    def _txn(self, compare: builtins.list[Any], success: builtins.list[Any],
             failure: builtins.list[Any]) -> Any:
        request = etcdrpc.TxnRequest(compare=[c.build_message() for c in compare],
                                     success=self.client._ops_to_requests(success),
                                     failure=self.client._ops_to_requests(failure))
        return self.call(self.kv.Txn, request)

    def txn(self, compare: builtins.list[Any], success: builtins.list[Any]) -> bool:
        """One transaction: ``success`` if every comparison holds; whether it
        did. Fenced, NotLeader if the leader's epoch is not ours (any more)."""
        if self.epoch_of is None:
            return bool(self._txn(compare, success, []).succeeded)
        epoch = self.epoch_of()
        leader = self.key(LEADER_KEY)
        answer = self._txn([self.tx.create(leader) == epoch, *compare], success, [self.tx.get(leader)])
        if not answer.succeeded:
            kvs = answer.responses[0].response_range.kvs if answer.responses else []
            held = kvs[0].create_revision if kvs else 0
            if held != epoch:
                raise NotLeader(f"another manager leads now (epoch {held or 'none'}, ours was {epoch}); "
                                f"this write was not made")
        return bool(answer.succeeded)

    def put_json(self, rel_key: str, data: Any) -> None:
        """Write one JSON record unconditionally (fenced: unless another manager leads)."""
        if self.epoch_of is not None:
            self.txn([], [self.put_op(rel_key, data)])
            return
        self.call(self.kv.Put, etcdrpc.PutRequest(key=self.key(rel_key).encode(),
                                                  value=json.dumps(data, sort_keys=True).encode()))

    def delete(self, rel_key: str) -> None:
        if self.epoch_of is not None:
            self.txn([], [self.delete_op(rel_key)])
            return
        self.call(self.kv.DeleteRange, etcdrpc.DeleteRangeRequest(key=self.key(rel_key).encode()))

    def put_op(self, rel_key: str, data: Any) -> Any:
        """A put of one JSON record, for ``txn``."""
        return self.tx.put(self.key(rel_key), json.dumps(data, sort_keys=True))

    def delete_op(self, rel_key: str) -> Any:
        return self.tx.delete(self.key(rel_key))

    def delete_prefix_op(self, rel_prefix: str) -> Any:
        """A delete of every key under a prefix, for ``txn``."""
        key = self.key(rel_prefix).encode()
        return transactions.Delete(key, range_end=prefix_end(key))

    def exists(self, rel_key: str) -> Any:
        """The comparison "the key exists", for ``txn``."""
        return self.tx.version(self.key(rel_key)) > 0

    def absent(self, rel_key: str) -> Any:
        return self.tx.version(self.key(rel_key)) == 0

    def unchanged(self, rel_key: str, revision: int) -> Any:
        """The comparison "the key was last written at ``revision``"."""
        return self.tx.mod(self.key(rel_key)) == revision

    def created_at(self, rel_key: str, revision: int) -> Any:
        """The comparison "the key is the incarnation created at ``revision``"."""
        return self.tx.create(self.key(rel_key)) == revision

    # ---------------------------------------------------------------- the pod guard
    def guard(self, pod: str) -> tuple[int, builtins.list[Any]]:
        """A pod's node count, and the comparison that pins its guard key
        (``podcount/<pod>``) at the revision just read (module docstring)."""
        kv = self.get_raw(f"podcount/{pod}")
        if kv is None:
            return 0, [self.absent(f"podcount/{pod}")]
        try:
            count = int(kv.value)
        except ValueError:
            self.report_corrupt(f"podcount/{pod}", kv.mod_revision, RecordError(f"{kv.value!r} is no number"))
            raise CorruptRecord(f"the node count podcount/{pod} in etcd is damaged; "
                                f"set it to the number of nodes of pod {pod!r}") from None
        return count, [self.unchanged(f"podcount/{pod}", kv.mod_revision)]

    def write_guard(self, pod: str, count: int) -> Any:
        """The write of a pod's new node count, for ``txn``."""
        return self.tx.put(self.key("podcount", pod), str(count))

    def batch_size(self, fixed: int) -> int:
        """Items per transaction when each item takes one comparison and one
        write, besides ``fixed`` others."""
        size = self.max_txn_ops - fixed
        if size < 1:
            raise TooLarge(f"this change needs {fixed} operations besides its nodes, more than "
                           f"one etcd transaction takes ({self.max_txn_ops}); split it up")
        return size
