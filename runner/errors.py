"""Errors a user can cause: one clear line, a non-zero exit, no traceback."""

from __future__ import annotations

import click

#: Exit codes: 1 a user error or a failed check, 2 a check that could not run (and
#: click's usage errors), 3 a dbt build whose tests failed, 4 a sync whose
#: verification failed (the replica was restored).
EXIT_FAILED = 1
EXIT_DBT_FAILED = 3
EXIT_VERIFY_FAILED = 4


class ReplicaError(click.ClickException):
    """A problem the user can fix; click prints ``Error: <message>`` and exits 1."""

    exit_code = EXIT_FAILED


class DbtFailed(ReplicaError):
    """``dbt build`` ran but reported errors or failed tests."""

    exit_code = EXIT_DBT_FAILED
    outcome: object = None  # the DbtOutcome, for the run log


class CheckAborted(ReplicaError):
    """A check (verify, status) could not run to the end: a connection failed, a
    schema is missing. Exit 2, so that "the check failed" (1) stays distinct."""

    exit_code = 2


class VerifyFailed(ReplicaError):
    """After a sync's build, the replica does not match the run's snapshot."""

    exit_code = EXIT_VERIFY_FAILED
