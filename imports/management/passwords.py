"""How the import and export commands get a payload password: from an environment variable
or typed at a prompt, never from the command line, where `ps` would show it to everyone."""

from __future__ import annotations

import getpass
import os
import sys

from django.core.management.base import CommandError


def _interactive() -> bool:
    return sys.stdin.isatty()


def read_password(env_var: str, *, confirm: bool = False) -> str:
    password = os.environ.get(env_var, "")
    if password:
        return password
    if not _interactive():
        raise CommandError(
            f"Set {env_var} to the payload password, or run the command in a terminal to be "
            "asked for it."
        )
    password = getpass.getpass("Payload password: ")
    if confirm and getpass.getpass("The same password again: ") != password:
        raise CommandError("The two passwords differ; nothing was done.")
    if not password:
        raise CommandError("No password given; nothing was done.")
    return password
