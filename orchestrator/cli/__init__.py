"""`cloud`: the command-line client of the simplecloud API.

It is a plain HTTP client (``requests``); it holds no state and makes no
decisions, so everything it can do, ``curl`` can do too (see docs/api.md).

Where it sends requests, first match wins:

* API address: ``--api``, ``$SIMPLECLOUD_API``, the file ``.simplecloud/api``
  found in the current directory or any parent (written by ``make up``),
  then ``http://127.0.0.1:5000``;
* token: ``--token``, ``$SIMPLECLOUD_TOKEN``, ``.simplecloud/token``; sent
  with every request, reads too (the API answers only health and its
  OpenAPI document without it);
* for an ``https://`` API, the CA that signed its certificate: ``--ca``,
  ``$SIMPLECLOUD_CA``, ``.simplecloud/ca.pem`` (the lab CA, written by
  ``make up``), else the system's trusted CAs.

Exit codes: 0 success, 1 the API refused (the message says why), 2 usage
error, 3 the API cannot be reached, 4 ``--wait`` gave up (the nodes did not
all serve in time), 130 interrupted (``cloud bench`` after Ctrl-C, with its partial
report). Errors are ONE line on stderr, starting with ``cloud:``;
a traceback is a bug.

The package: ``main`` (the entry point), ``parser`` (every command and
option), ``client`` (where the API is; one request), ``tables`` (what is
printed), ``wait`` (``--wait``), one module per command group (``cluster``,
``pods``, ``nodes``, ``apps``, ``bench``).
"""
from orchestrator.cli.main import main

__all__ = ["main"]
