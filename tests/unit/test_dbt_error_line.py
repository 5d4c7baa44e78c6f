"""The database's error of an errored dbt node, as the one-line error carries it."""

from __future__ import annotations

from crm_replica.db import secrets
from crm_replica.sync.dbt import NodeResult, error_line
from crm_replica.sync.dbt import _failure as failure

MODEL_ERROR = """Database Error in model stg_master__leads (models/stg_leads.sql)
  column "last_message_from" does not exist
  LINE 37:         last_message_from,
                   ^
  compiled code at target/run/crm_replica/models/staging/stg_master__leads.sql"""


def test_the_database_error_is_the_line_after_dbts_heading():
    assert error_line(MODEL_ERROR) == 'column "last_message_from" does not exist'


def test_an_errored_model_is_named_with_its_error():
    node = NodeResult("model.crm_replica.stg_master__leads", "error", MODEL_ERROR)
    assert failure(node) == (
        'stg_master__leads: column "last_message_from" does not exist'
    )


def test_a_failing_test_keeps_its_detail_or_its_name():
    logged = NodeResult("test.crm_replica.t", "fail", "Got 1 result", detail="rows")
    assert failure(logged) == "t (rows)"
    assert failure(NodeResult("test.crm_replica.t", "fail", "Got 1 result")) == "t"


def test_no_password_in_the_line():
    secrets.remember("pa55-w0rd-x")
    message = (
        "Database Error in model m (models/m.sql)\n"
        "  could not connect: postgresql://u:pa55-w0rd-x@h/db refused"
    )
    assert "pa55-w0rd-x" not in error_line(message)
    assert "***" in error_line(message)
