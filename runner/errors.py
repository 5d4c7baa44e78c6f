"""Errors a user can cause: one clear line, a non-zero exit, no traceback."""

from __future__ import annotations

import click

#: Exit codes: 1 a user error or a failed check, 2 a crash (click's usage errors also
#: exit 2), 3 a dbt build whose tests failed.
EXIT_FAILED = 1
EXIT_DBT_FAILED = 3


class ReplicaError(click.ClickException):
    """A problem the user can fix; click prints ``Error: <message>`` and exits 1."""

    exit_code = EXIT_FAILED


class DbtFailed(ReplicaError):
    """``dbt build`` ran but reported errors or failed tests."""

    exit_code = EXIT_DBT_FAILED


class CheckAborted(ReplicaError):
    """A check (verify, status) could not run to the end: a connection failed, a
    schema is missing. Exit 2, so that "the check failed" (1) stays distinct."""

    exit_code = 2
