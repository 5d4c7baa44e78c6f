"""What a run copies by default: the CRM's tables and master's dashboard views."""

from __future__ import annotations

#: The eight tables of the CRM, parents before children.
CRM_TABLES = (
    "clients",
    "projects",
    "leads",
    "conversations",
    "whatsapp_messages",
    "agent_interaction_logs",
    "conversation_audit_log",
    "lead_status_history",
)
#: Master computes these on read; their output is captured in the same snapshot so
#: that the replica's own dashboards can be compared with it.
DASHBOARD_VIEWS = (
    "dashboard_bant_distribution",
    "dashboard_business_kpis",
    "dashboard_lead_funnel",
    "dashboard_system_metrics",
)
DEFAULT_TABLES = CRM_TABLES + DASHBOARD_VIEWS
LANDING_SCHEMA = "master_raw"
MASTER_SCHEMA = "public"


def parse_table_list(text: str) -> tuple[str, ...]:
    """``"a, b"`` -> ``("a", "b")``, keeping order and dropping repeats."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    return tuple(dict.fromkeys(names))
