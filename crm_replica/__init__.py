"""crm-replica: keep a local PostgreSQL replica of the CRM master and rebuild its
dashboards with dbt."""

__version__ = "0.1.0"
