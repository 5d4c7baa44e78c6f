"""The ``replica`` command: a thin click layer over the packages below it."""

from crm_replica.cli.commands import cli

__all__ = ["cli"]
