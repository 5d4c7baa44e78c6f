"""Where things are: the dbt project, the work directory, the two databases."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from crm_replica.db import embedded_urls
from crm_replica.errors import ReplicaError

MASTER_ENV = "MASTER_DATABASE_URL"
REPLICA_ENV = "REPLICA_DATABASE_URL"


def find_project_dir(start: Path | None = None) -> Path:
    """The nearest directory holding dbt_project.yml, from ``start`` (or the current
    directory) upwards, else the checkout this package was installed from."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "dbt_project.yml").is_file():
            return candidate
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "dbt_project.yml").is_file():
        return checkout
    raise ReplicaError("no dbt_project.yml here or above; use --project-dir")


@dataclass
class Place:
    project_dir: Path
    workdir: Path
    master_url: str | None
    replica_url: str | None
    embedded_master: bool
    embedded_replica: bool


@contextmanager
def resolve(
    project_dir: Path | None,
    workdir: Path | None,
    master_url: str | None,
    replica_url: str | None,
    *,
    need_master: bool = True,
    need_replica: bool = True,
) -> Iterator[Place]:
    """Fill in what was not given: URLs from the environment, else embedded clusters
    (started for the block and stopped after it)."""
    project = project_dir.resolve() if project_dir else find_project_dir()
    work = (workdir or project / ".replica").resolve()
    master_url = master_url or os.environ.get(MASTER_ENV) or None
    replica_url = replica_url or os.environ.get(REPLICA_ENV) or None
    start_master = need_master and not master_url
    start_replica = need_replica and not replica_url
    with embedded_urls(work, start_master, start_replica) as (e_master, e_replica):
        yield Place(
            project,
            work,
            master_url or e_master,
            replica_url or e_replica,
            start_master,
            start_replica,
        )
