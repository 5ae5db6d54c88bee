"""``monitoring keys create|list|revoke``: API keys, managed on the receiver's database.

The secret is printed once, by ``create``; only its salted hash is stored. Every change is
audit-logged with the operating-system user as actor (``cli:<user>``) and ``cli`` as source.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TextIO

from receiver.operations import KeyNotFound, Role, open_key_store


def add_arguments(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    keys = sub.add_parser("keys", help="manage the receiver's API keys (viewer, operator, admin)")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="create a key and print its secret (shown once)")
    create.add_argument("--name", required=True, help="who or what uses the key")
    create.add_argument("--role", required=True, choices=[r.value for r in Role])
    actions.add_parser("list", help="list keys (never their secrets)")
    revoke = actions.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("id")


def run(args: argparse.Namespace, env: Mapping[str, str], out: TextIO) -> int:
    store, database = open_key_store(env)
    actor = f"cli:{getpass.getuser()}"
    try:
        match args.keys_command:
            case "create":
                created = store.create(args.name, Role(args.role), actor, "cli")
                print(f"id:     {created.key.id}\nrole:   {created.key.role.value}", file=out)
                print(f"secret: {created.token}", file=out)
                print("Keep the secret now: it is not stored and cannot be shown again.", file=out)
            case "list":
                for key in store.list_keys():
                    revoked = datetime.fromtimestamp(key.revoked_at, UTC).isoformat() if key.revoked_at else None
                    row = {"id": key.id, "name": key.name, "role": key.role.value, "revoked_at": revoked}
                    print(json.dumps(row), file=out)
            case "revoke":
                try:
                    store.revoke(args.id, actor, "cli")
                except KeyNotFound:
                    print(f"monitoring keys revoke: no active key with id {args.id}", file=sys.stderr)
                    return 1
                print(f"revoked {args.id}", file=out)
    finally:
        database.close()
    return 0
