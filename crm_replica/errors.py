"""The errors the engine raises: each a problem a user can act on, with the exit
code a command ends with. Only the CLI turns them into click's one-line errors
(crm_replica.cli.commands.Group)."""

from __future__ import annotations

#: Exit codes: 1 a user error or a failed check, 2 a check that could not run (and
#: click's usage errors), 3 a dbt build whose tests failed, 4 a sync whose
#: verification failed (in both, nothing was published).
EXIT_FAILED = 1
EXIT_CHECK_ABORTED = 2
EXIT_DBT_FAILED = 3
EXIT_VERIFY_FAILED = 4


class ReplicaError(Exception):
    """A problem the user can fix: one line (``message``, without any password) and
    the exit code of the command that meets it."""

    exit_code = EXIT_FAILED

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class TableNotFound(ReplicaError):
    """A table or view asked for is not in master's schema."""


class DbtFailed(ReplicaError):
    """``dbt build`` ran but reported errors or failed tests."""

    exit_code = EXIT_DBT_FAILED
    outcome: object = None  # the DbtOutcome, for the run log


class CheckAborted(ReplicaError):
    """A check (verify, status) could not run to the end: a connection failed, a
    schema is missing. Exit 2, so that "the check failed" (1) stays distinct."""

    exit_code = EXIT_CHECK_ABORTED


class VerifyFailed(ReplicaError):
    """After a sync's build, the replica does not match the run's snapshot."""

    exit_code = EXIT_VERIFY_FAILED
