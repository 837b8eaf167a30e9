"""``cloud``'s entry point: parse, find the API, run one command, print its answer."""
from __future__ import annotations

import json
import os
import sys

from orchestrator.cli.client import (
    DEFAULT_API,
    EXIT_OK,
    Client,
    CliError,
    resolve,
    resolve_ca,
)
from orchestrator.cli.parser import build_parser


def main(argv: list[str] | None = None, environ=None) -> int:
    """Entry point of ``cloud``; returns the exit code (see module docstring)."""
    try:
        args = build_parser().parse_args(argv)
        args.json = getattr(args, "json", False)
        api = resolve(getattr(args, "api", None), "SIMPLECLOUD_API", "api", DEFAULT_API, environ) or DEFAULT_API
        token = resolve(getattr(args, "token", None), "SIMPLECLOUD_TOKEN", "token", None, environ)
        data, text = args.func(Client(api, token, ca=resolve_ca(getattr(args, "ca", None), environ)), args)
    except CliError as exc:
        print(f"cloud: {exc}", file=sys.stderr)
        return exc.code
    except KeyboardInterrupt:
        print("cloud: interrupted", file=sys.stderr)
        return 130
    try:
        if args.json:
            print(json.dumps(data, indent=2))
        elif text:
            print(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `cloud ... | head`: the reader left; not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 130 if args.verb == "bench" and data.get("interrupted") else EXIT_OK
