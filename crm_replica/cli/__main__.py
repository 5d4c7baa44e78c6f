"""``python -m crm_replica.cli``: the ``replica`` command."""

from crm_replica.cli import cli

cli()
