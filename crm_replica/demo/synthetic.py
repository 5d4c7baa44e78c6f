"""A deterministic synthetic master and replica-local tables, per docs/master.md.

The same seed gives the same rows; only timestamps move with the anchor time
(``now`` by default) because the master's dashboards count "today" and "this week":
"today" is the CRM's (``time_zone``, Asia/Jerusalem), as master's views count it
when read in that time zone.
``scale`` multiplies the volume tables (leads, messages, conversations and the
logs) and leaves clients and projects as they are. Scale 1 is exactly the documented
master. Above it, the rows look like a CRM's at that size (``_Gen.pick``): a few
very long threads and many short ones, and messages that mix English phrases and
rarer details (street numbers, reference codes) into the Hebrew.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

import psycopg

from crm_replica.settings.schemas import CRM_TABLES, CRM_TIME_ZONE

#: Rows per table at scale 1: the master's documented counts.
BASE_COUNTS = {
    "clients": 2,
    "projects": 2,
    "leads": 11,
    "conversations": 499,
    "whatsapp_messages": 1296,
    "agent_interaction_logs": 191,
    "conversation_audit_log": 14,
    "lead_status_history": 138,
}
#: What ``scale`` multiplies: every CRM table but the clients and their projects.
VOLUME_TABLES = tuple(t for t in CRM_TABLES if t not in ("clients", "projects"))
LOCAL_COUNTS = {"clients": 6, "projects": 7, "leads": 26}
#: How many local rows share an id with master (with other values).
LOCAL_OVERLAP = {"clients": 1, "projects": 2, "leads": 5}

BUSINESS_NUMBER = "+972535550100"
BUSINESS_NUMBER_ID = "109876543210987"
BANT_OF_LEADS = ["no_bant"] * 8 + ["need_qualified"] * 2 + ["partially_qualified"]
STATUS_OF_LEADS = ["new"] * 7 + [
    "awareness",
    "interest",
    "consideration",
    "unqualified",
]
STATES = ["new_lead", "contacted", "information_gathering", "demo_scheduled"]
SCENARIOS = ("load_test", "rate_limit_test", "basic_message_flow")
#: An incoming conversation's status as the CRM's queue moves it along.
INCOMING_STATUSES = ("received", "processed", "failed", "processing")
HEBREW = (
    "שלום, אני מעוניין בדירה",
    "מה המחיר של הדירה בקומה השלישית?",
    "אפשר לקבוע פגישה לשבוע הבא?",
    "תודה רבה! 🙏",
    "יש חניה בבניין?",
    "אני אחזור אליך מחר",
    "נשמע מעולה 👍",
    "כמה חדרים יש בדירה?",
    "מתי אפשר לראות את הנכס? 🏠",
    "התקציב שלי הוא עד שני מיליון ₪",
    "בוקר טוב ☀️",
    "אשמח לקבל פרטים נוספים",
)
#: Above scale 1 only (scale 1 keeps the seed's exact rows).
ENGLISH = (
    "Hi, is the apartment still available?",
    "Can we schedule a viewing next week?",
    "What is the price per square meter?",
    "Thanks, I will call you tomorrow",
    "Is there parking in the building?",
    "Please send the floor plan",
)
STREETS = ("הרצל", "ויצמן", "Dizengoff", "בן יהודה", "Rothschild", "אלנבי")
FIRST_NAMES = ("דוד", "שרה", "יוסי", "מיכל", "Daniel", "Maya", "Noam", "Emma")
LAST_NAMES = ("כהן", "לוי", "מזרחי", "פרץ", "Cohen", "Levi", "Friedman", "Katz")
#: How steep the skew of threads is above scale 1: lead k of n (in a shuffled
#: order) gets a share of messages proportional to 1 / k**SKEW.
SKEW = 1.0
NAMES = (
    "דוד כהן",
    "שרה לוי",
    "יוסי מזרחי",
    "מיכל פרץ",
    "אבי ביטון",
    "רונית אזולאי",
    "משה דהן",
    "נועה אברהם",
    "איתי פרידמן",
    "תמר שפירא",
    "עומר גבאי",
    "ליאת כץ",
)


def crm_midnight(now: datetime, time_zone: str = CRM_TIME_ZONE) -> datetime:
    """The midnight (in UTC) that began the day of ``now`` in ``time_zone``."""
    local = now.astimezone(ZoneInfo(time_zone))
    return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)


@dataclass
class Rows:
    """Generated rows, by table, as tuples in master's column order."""

    tables: dict[str, list[tuple]] = field(default_factory=dict)


class _Gen:
    def __init__(
        self, seed: int, now: datetime, scale: int = 1, time_zone: str = CRM_TIME_ZONE
    ) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.midnight = crm_midnight(now, time_zone)
        self.scale = scale
        self._cum_weights: list[float] = []

    def skew(self, leads: list[tuple]) -> None:
        """Above scale 1: which lead ``pick`` returns follows a Zipf-like skew over
        the leads in a shuffled order (a few very long threads, many short)."""
        if self.scale == 1:
            return
        ranks = list(range(1, len(leads) + 1))
        self.rng.shuffle(ranks)
        total = 0.0
        self._cum_weights = []
        for rank in ranks:
            total += 1 / rank**SKEW
            self._cum_weights.append(total)

    def pick(self, leads: list[tuple]) -> tuple:
        """A lead for a message, conversation or status change: uniform at scale 1
        (the seed's rows), skewed above it."""
        if not self._cum_weights:
            return self.rng.choice(leads)
        return self.rng.choices(leads, cum_weights=self._cum_weights)[0]

    def uuid(self) -> uuid.UUID:
        return uuid.UUID(int=self.rng.getrandbits(128), version=4)

    def phone(self) -> str:
        return "+9725" + "".join(str(self.rng.randrange(10)) for _ in range(8))

    def wamid(self) -> str:
        raw = "".join(self.rng.choice("ABCDEF0123456789") for _ in range(32))
        return f"wamid.HBgM{raw}"

    def text(self) -> str:
        if self.scale == 1:
            parts = self.rng.sample(HEBREW, self.rng.randint(1, 2))
            return " ".join(parts)
        parts = self.rng.sample(HEBREW + ENGLISH, self.rng.randint(1, 2))
        if self.rng.random() < 0.2:  # a detail: rare words for a search to find
            street = self.rng.choice(STREETS)
            parts.append(
                f"{street} {self.rng.randint(1, 300)}"
                if self.rng.random() < 0.5
                else f"ref {self.rng.randint(1000, 9999)}"
            )
        return " ".join(parts)

    def past(self, days: float) -> datetime:
        """A moment within the last ``days`` days."""
        return self.now - timedelta(seconds=self.rng.uniform(60, days * 86400))

    def today(self) -> datetime:
        span = max((self.now - self.midnight).total_seconds() - 1, 1)
        return self.midnight + timedelta(seconds=self.rng.uniform(0, span))


def _clients(g: _Gen) -> list[tuple]:
    rows = []
    for i, name in enumerate(("נדל״ן הצפון", "Acme Realty")):
        created = g.past(60)
        rows.append(
            (
                g.uuid(),
                name,
                f"Client {i + 1} of the CRM",
                "ACTIVE",
                created,
                created,
                json.dumps(
                    {
                        "email": f"office{i + 1}@example.com",
                        "phone": g.phone(),
                        "address": {
                            "street": "הרצל 1",
                            "city": "תל אביב",
                            "zip": "6100000",
                            "country": "IL",
                        },
                        "primary_contact_name": NAMES[i],
                    },
                    ensure_ascii=False,
                ),
                BUSINESS_NUMBER_ID,
                BUSINESS_NUMBER,
            )
        )
    return rows


def _projects(g: _Gen, clients: list[tuple]) -> list[tuple]:
    rows = []
    for i, client in enumerate(clients):
        created = g.past(50)
        rows.append(
            (
                g.uuid(),
                f"פרויקט {i + 1}",
                "מגדלי מגורים",
                client[0],
                "active",
                json.dumps({"language": "he", "auto_reply": True}),
                created,
                created,
                json.dumps({"source": "whatsapp"}),
            )
        )
    return rows


def _leads(g: _Gen, clients: list[tuple], projects: list[tuple], n: int) -> list[tuple]:
    rows = []
    # 3 leads created today (the CRM's), 1 earlier this week, 7 older: master's KPI
    # row. Leads beyond the seed's 11 (scale > 1): mostly older, in the same
    # proportions of status and BANT status.
    ages = ["today"] * 3 + ["week"] + ["old"] * 7
    phones: set[str] = set()
    for i in range(n):
        if i >= len(ages):
            ages.append(g.rng.choices(("today", "week", "old"), (1, 3, 96))[0])
        created = {
            "today": g.today,
            "week": lambda: g.midnight - timedelta(days=g.rng.uniform(1.5, 5.5)),
            "old": lambda: g.now - timedelta(days=g.rng.uniform(8, 28)),
        }[ages[i]]()
        project = projects[i % len(projects)]
        first = created + timedelta(minutes=g.rng.randint(1, 30))
        last = min(first + timedelta(hours=g.rng.randint(1, 200)), g.now)
        base = i < BASE_COUNTS["leads"]
        lead_id = g.uuid()
        if base:
            name, phone = NAMES[i], g.phone()
        else:  # one lead per phone, as in a CRM (the seed's leads differ)
            name = f"{g.rng.choice(FIRST_NAMES)} {g.rng.choice(LAST_NAMES)}"
            phone = g.phone()
            while phone in phones:
                phone = g.phone()
        phones.add(phone)
        rows.append(
            (
                lead_id,
                name,
                f"lead{i + 1}@example.com",
                phone,
                STATUS_OF_LEADS[i] if base else g.rng.choice(STATUS_OF_LEADS),
                created,
                last,
                project[3],
                project[0],
                g.rng.choice(STATES),
                BANT_OF_LEADS[i] if base else g.rng.choice(BANT_OF_LEADS),
                json.dumps({"state_reason": "auto"}),
                json.dumps({"source": "whatsapp", "language": "he"}),
                g.rng.choice(("lead", "agent", "system")),
                first,
                last,
                g.rng.randint(1, 40),
                g.now + timedelta(days=g.rng.randint(1, 5)),
                g.rng.randint(0, 3),
                g.rng.random() < 0.2,
                last,
            )
        )
    return rows


def _payload_inbound(wamid: str, frm: str, name: str, body: str, epoch: int) -> str:
    digits = frm.lstrip("+")
    return json.dumps(
        {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "102290129340398",
                    "changes": [
                        {
                            "field": "messages",
                            "value": {
                                "messaging_product": "whatsapp",
                                "metadata": {
                                    "display_phone_number": BUSINESS_NUMBER.lstrip("+"),
                                    "phone_number_id": BUSINESS_NUMBER_ID,
                                },
                                "contacts": [
                                    {"profile": {"name": name}, "wa_id": digits}
                                ],
                                "messages": [
                                    {
                                        "from": digits,
                                        "id": wamid,
                                        "timestamp": str(epoch),
                                        "type": "text",
                                        "text": {"body": body},
                                    }
                                ],
                            },
                        }
                    ],
                }
            ],
        },
        ensure_ascii=False,
    )


def _payload_outbound(wamid: str, to: str) -> str:
    digits = to.lstrip("+")
    return json.dumps(
        {
            "messaging_product": "whatsapp",
            "contacts": [{"input": digits, "wa_id": digits}],
            "messages": [{"id": wamid}],
        }
    )


def _messages(g: _Gen, leads: list[tuple], n: int) -> tuple[list[tuple], dict]:
    """whatsapp_messages; also returns each lead's real messages for linking."""
    rows: list[tuple] = []
    by_lead: dict[uuid.UUID, list[tuple[str, datetime]]] = {
        lead[0]: [] for lead in leads
    }
    n_real = n // 6
    for i in range(n):
        at = g.past(21)
        if i % 6 != 0 or i // 6 >= n_real:
            rows.append(
                (
                    g.uuid(),
                    g.phone(),
                    g.text(),
                    None,
                    "{}",
                    g.rng.random() < 0.5,
                    BUSINESS_NUMBER_ID,
                    BUSINESS_NUMBER,
                    at,
                    True,
                    f"session-{g.rng.randrange(40):03d}",
                    g.rng.choice(SCENARIOS),
                    at,
                )
            )
            continue
        wamid = g.wamid()
        body = g.text()
        lead = g.pick(leads) if g.rng.random() < 0.75 else None
        other = lead[3] if lead else g.phone()
        if g.rng.random() < 0.6:  # inbound: the lead writes to the business
            payload = _payload_inbound(
                wamid, other, lead[1] if lead else "Unknown", body, int(at.timestamp())
            )
            row = (
                g.uuid(),
                other,
                body,
                wamid,
                payload,
                True,
                BUSINESS_NUMBER_ID,
                BUSINESS_NUMBER,
                at,
                False,
                None,
                None,
                at,
            )
        else:  # outbound: the agent answers the lead
            row = (
                g.uuid(),
                BUSINESS_NUMBER,
                body,
                wamid,
                _payload_outbound(wamid, other),
                False,
                other.lstrip("+"),
                other,
                at,
                False,
                None,
                None,
                at,
            )
        rows.append(row)
        if lead:
            by_lead[lead[0]].append((wamid, at))
    return rows, by_lead


def _conversations(g: _Gen, leads: list[tuple], by_lead: dict, n: int) -> list[tuple]:
    rows = []
    for _ in range(n):
        lead = g.pick(leads)
        linked = by_lead[lead[0]]
        if linked and g.rng.random() < 0.35:
            wamid, at = g.rng.choice(linked)
        else:
            wamid, at = g.wamid(), g.past(21)
        epoch = int(at.timestamp())
        suffix = epoch * 1000 + g.rng.randrange(1000) if g.rng.random() < 0.5 else epoch
        incoming = g.rng.random() < 0.55
        rows.append(
            (
                g.uuid(),
                lead[0],
                g.text(),
                at,
                json.dumps({"channel": "whatsapp", "lang": "he"}),
                f"{wamid}.{suffix}",
                "incoming" if incoming else "outgoing",
                g.rng.choices(INCOMING_STATUSES, (45, 45, 6, 4))[0]
                if incoming
                else g.rng.choice(("sent", "delivered", "read")),
                at,
                at + timedelta(seconds=g.rng.randint(0, 600)),
                json.dumps({"mode": g.rng.choice(("strict", "lenient"))}),
                json.dumps({"turn": g.rng.randint(1, 30)}),
            )
        )
    return rows


def _agent_logs(g: _Gen, leads: list[tuple], convs: list[tuple], n: int) -> list[tuple]:
    rows = []
    lead_by_id = {lead[0]: lead for lead in leads}
    for _ in range(n):
        conv = g.rng.choice(convs)
        lead = lead_by_id[conv[1]]
        at = conv[3] + timedelta(seconds=g.rng.randint(1, 120))
        rows.append(
            (
                g.uuid(),
                lead[0],
                at,
                json.dumps(
                    {"message": conv[2], "history_len": g.rng.randint(0, 20)},
                    ensure_ascii=False,
                ),
                json.dumps(
                    {"reply": g.text(), "tokens": g.rng.randint(50, 900)},
                    ensure_ascii=False,
                ),
                lead[9],
                lead[4],
                lead[10],
                json.dumps({"need": g.rng.random() < 0.3, "budget": None}),
                g.rng.choice(("reply", "schedule_follow_up", "escalate", "none")),
                at,
                conv[0] if g.rng.random() < 0.8 else None,
            )
        )
    return rows


def _audit(g: _Gen, convs: list[tuple], n: int) -> list[tuple]:
    rows = []
    for _ in range(n):
        conv = g.rng.choice(convs)
        rows.append(
            (
                g.uuid(),
                conv[0],
                "status_change",
                "received",
                conv[7],
                g.rng.choice(("strict", "lenient")),
                json.dumps({"by": "validator"}),
                conv[3] + timedelta(seconds=g.rng.randint(1, 60)),
            )
        )
    return rows


def _status_history(g: _Gen, leads: list[tuple], n: int) -> list[tuple]:
    rows = []
    for _ in range(n):
        lead = g.pick(leads)
        kind = g.rng.choice(("bant", "state", "status"))
        status = {"bant": lead[10], "state": lead[9], "status": lead[4]}[kind]
        at = g.past(21)
        rows.append(
            (
                g.uuid(),
                lead[0],
                kind,
                status,
                g.rng.choice((None, "new", "no_bant")),
                "agent decision",
                json.dumps({"confidence": round(g.rng.random(), 3)}),
                at,
                g.rng.choice(("agent", "system", "human")),
                at,
            )
        )
    return rows


def _queue(
    g: _Gen, messages: list[tuple], convs: list[tuple], logs: list[tuple]
) -> list[tuple]:
    """Master's message queue (not replicated), consistent with what is replicated.

    One item per incoming conversation, created when the message arrived. It is
    processed when an agent log names the conversation as its triggering message
    (processed_at = the first such log), otherwise failed / processing as the
    conversation's status says, else queued. The queue starts work on arrival, and
    retry_count counts the agent runs beyond the first. Priority is the queue's own.
    The replica's dashboard_system_metrics applies the same rules to replicated rows.
    """
    message_by_wamid = {m[3]: m[0] for m in messages if m[3]}
    first_log: dict[uuid.UUID, datetime] = {}
    runs: dict[uuid.UUID, int] = {}
    for log in logs:
        conv_id, at = log[11], log[2]
        if conv_id is None:
            continue
        runs[conv_id] = runs.get(conv_id, 0) + 1
        first_log[conv_id] = min(at, first_log.get(conv_id, at))
    rows = []
    for conv in convs:
        if conv[6] != "incoming":
            continue
        created = conv[3]
        if conv[0] in first_log:
            status = "processed"
        elif conv[7] in ("failed", "processing"):
            status = conv[7]
        else:
            status = "queued"
        wamid = conv[5].rsplit(".", 1)[0]
        rows.append(
            (
                g.uuid(),
                message_by_wamid.get(wamid),
                status,
                g.rng.randint(1, 5),
                max(runs.get(conv[0], 0) - 1, 0),
                created,
                None if status == "queued" else created,
                first_log.get(conv[0]) if status == "processed" else None,
            )
        )
    return rows


def master_rows(
    seed: int = 42,
    scale: int = 1,
    now: datetime | None = None,
    time_zone: str = CRM_TIME_ZONE,
) -> Rows:
    """Every master table's rows, in dependency order; 3 leads created since the
    midnight of ``now``'s day in ``time_zone`` (the CRM's "today")."""
    if scale < 1:
        raise ValueError("scale must be 1 or more")
    g = _Gen(seed, now or datetime.now(UTC), scale, time_zone)
    n = {t: c * (scale if t in VOLUME_TABLES else 1) for t, c in BASE_COUNTS.items()}
    clients = _clients(g)
    projects = _projects(g, clients)
    leads = _leads(g, clients, projects, n["leads"])
    g.skew(leads)
    messages, by_lead = _messages(g, leads, n["whatsapp_messages"])
    convs = _conversations(g, leads, by_lead, n["conversations"])
    logs = _agent_logs(g, leads, convs, n["agent_interaction_logs"])
    out = Rows()
    out.tables = {
        "clients": clients,
        "projects": projects,
        "leads": leads,
        "whatsapp_messages": messages,
        "conversations": convs,
        "agent_interaction_logs": logs,
        "conversation_audit_log": _audit(g, convs, n["conversation_audit_log"]),
        "lead_status_history": _status_history(g, leads, n["lead_status_history"]),
        "message_queue": _queue(g, messages, convs, logs),
    }
    return out


def local_rows(master_ids: dict[str, list], seed: int = 42) -> Rows:
    """The replica's own clients/projects/leads before replication.

    ``master_ids`` holds master's ids per table; the first ``LOCAL_OVERLAP`` local
    rows of each table reuse one with other values, the rest are local only.
    """
    g = _Gen(seed + 1, datetime.now(UTC))

    def ids(table: str) -> list:
        overlap = master_ids.get(table, [])[: LOCAL_OVERLAP[table]]
        return overlap + [g.uuid() for _ in range(LOCAL_COUNTS[table] - len(overlap))]

    clients = [
        (cid, f"לקוח מקומי {i + 1}", "ACTIVE", g.past(400))
        for i, cid in enumerate(ids("clients"))
    ]
    projects = [
        (
            pid,
            f"Local project {i + 1}",
            clients[i % len(clients)][0],
            g.rng.choice(("active", "paused")),
            g.past(300),
        )
        for i, pid in enumerate(ids("projects"))
    ]
    leads = [
        (
            lid,
            f"ליד מקומי {i + 1}",
            g.phone(),
            g.rng.choice(("new", "cold", "warm", "lost")),
            projects[i % len(projects)][0],
            g.past(200),
        )
        for i, lid in enumerate(ids("leads"))
    ]
    return Rows({"clients": clients, "projects": projects, "leads": leads})


def sql_text(name: str) -> str:
    sql_dir = resources.files("crm_replica.demo").joinpath("sql")
    return sql_dir.joinpath(name).read_text(encoding="utf-8")


def _copy_rows(
    conn: psycopg.Connection,
    table: str,
    rows: list[tuple],
    on_rows: Callable[[int], None] | None = None,
) -> None:
    with (
        conn.cursor() as cur,
        cur.copy(
            psycopg.sql.SQL("copy {} from stdin").format(psycopg.sql.Identifier(table))
        ) as copy,
    ):
        for chunk in _chunks(rows, 5000):
            for row in chunk:
                copy.write_row(row)
            if on_rows:
                on_rows(len(chunk))


def _chunks(rows: list[tuple], size: int) -> Iterator[list[tuple]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def create_master(
    conn: psycopg.Connection, rows: Rows, on_rows: Callable[[int], None] | None = None
) -> None:
    """Create master's schema and load ``rows`` (the connection must be writable:
    this is for the synthetic master only)."""
    with conn.transaction():
        conn.execute(sql_text("master_schema.sql"))
        for table, table_rows in rows.tables.items():
            _copy_rows(conn, table, table_rows, on_rows)
