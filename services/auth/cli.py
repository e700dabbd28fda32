"""Operator commands for the auth service, using its settings, database and password hashing.

    python -m services.auth.cli create-admin --email admin@example.com [--promote]

The password comes from SHOP_NEW_ADMIN_PASSWORD, or is asked for (twice on a terminal). An email
that already belongs to a customer is refused unless --promote is given; promoting, like finding
an existing admin, leaves the account's password as it is.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Sequence

from services.kit.config import load
from services.kit.database import Database
from services.kit.errors import DomainError

from .domain import validated_email, validated_password
from .passwords import Passwords
from .service import MIGRATIONS, Settings
from .store import UserRole, UserStore

PASSWORD_ENV = "SHOP_NEW_ADMIN_PASSWORD"


class CliError(Exception):
    """Stops the command with exit status 1 and this message."""


def _read_password() -> str:
    password = os.environ.get(PASSWORD_ENV, "")
    if not password:
        try:
            password = getpass.getpass("New admin password: ")
            if sys.stdin.isatty() and getpass.getpass("Repeat it: ") != password:
                raise CliError("the passwords do not match")
        except EOFError:
            raise CliError(f"no password given (set {PASSWORD_ENV} or type it at the prompt)") from None
    try:
        return validated_password(password)
    except DomainError as exc:
        raise CliError(exc.message) from None


async def create_admin(settings: Settings, email: str, promote: bool) -> str:
    """Creates or promotes the admin; returns what was done. Raises CliError on refusal."""
    db = Database(settings.resolved_database_url())
    try:
        await db.migrate(settings.service_name, MIGRATIONS)
        store = UserStore(db)
        existing = await store.get_by_email(email)
        if existing is not None:
            if existing.role == UserRole.ADMIN:
                return f"{email} is already an admin (password unchanged)"
            if not promote:
                raise CliError(f"{email} is registered as a customer; pass --promote to make it an admin")
            await store.set_role(existing.id, UserRole.ADMIN)
            return f"{email} (user {existing.id}) is now an admin (password unchanged)"
        password = _read_password()
        row = await store.create(email, await Passwords().hash(password), UserRole.ADMIN)
        if row is None:
            raise CliError(f"{email} was registered meanwhile; run the command again")
        return f"created admin {email} (user {row.id})"
    finally:
        await db.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m services.auth.cli", description="Operator commands for the auth service."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser(
        "create-admin", help=f"create an admin account (password from {PASSWORD_ENV} or a prompt)"
    )
    create.add_argument("--email", required=True, help="the admin's email address")
    create.add_argument(
        "--promote", action="store_true", help="make an existing customer with this email an admin"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    settings = load(Settings, service_name="auth")
    try:
        email = validated_email(args.email)
        print(asyncio.run(create_admin(settings, email, args.promote)))
    except DomainError as exc:
        print(f"create-admin: {exc.message}", file=sys.stderr)
        return 1
    except CliError as exc:
        print(f"create-admin: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
