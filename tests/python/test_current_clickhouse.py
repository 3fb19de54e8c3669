"""The ClickHouse model on *current* ClickHouse, in-process through chDB.

The local stack and `scripts/test.sh` run ClickHouse 18.16; production (docker-compose) runs a
current server. This test applies every migration of `schemas/clickhouse/` (twice: they must be
idempotent), inserts events the way the sink does, and runs the lead/contact search SQL of
`schemas/clickhouse/queries/` (bound exactly as the clickhouse crate binds it) and the BI views,
so both ClickHouse generations are proven to accept and agree on the same SQL.

    python3 -m pip install -r tests/python/requirements.txt
    python3 -m pytest -p no:cacheprovider tests/python -q
"""

import json
import re
import uuid
from pathlib import Path

import pytest
from chdb import session as chdb_session

REPO = Path(__file__).resolve().parents[2]
CLICKHOUSE = REPO / "schemas" / "clickhouse"
SEARCH_SQL = (CLICKHOUSE / "queries" / "search.sql").read_text()
COUNT_SQL = (CLICKHOUSE / "queries" / "search_count.sql").read_text()
ALL_EVENTS = 18446744073709551615  # u64::MAX: `LIMIT n BY recording_id` keeping every event


# -- how the Rust side runs SQL ------------------------------------------------------------------


def statements(sql):
    """Migration statements as `schemas/src/migrations.rs` splits them."""
    for part in sql.split(";\n"):
        lines = [l for l in part.splitlines() if not l.lstrip().startswith("--")]
        text = "\n".join(lines).strip().rstrip(";")
        if text:
            yield text


class Identifier(str):
    """A value bound as an identifier (clickhouse::sql::Identifier)."""


def _escape(text):
    # clickhouse crate, src/sql/escape.rs: backslash-escape \ ' ` tab newline.
    return re.sub(r"([\\'`\t\n])", r"\\\1", text)


def _literal(value):
    if isinstance(value, Identifier):
        return "`" + _escape(value) + "`"
    if isinstance(value, str):
        return "'" + _escape(value) + "'"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_literal(v) for v in value) + "]"
    raise TypeError(f"cannot bind {value!r}")


def bind(template, *values):
    """Fill each `?` of `template` in order, as clickhouse::Query::bind does (`??` is `?`)."""
    parts = re.split(r"(\?\??)", template)
    out, pending = [], list(values)
    for part in parts:
        if part == "??":
            out.append("?")
        elif part == "?":
            assert pending, "more placeholders than values"
            out.append(_literal(pending.pop(0)))
        else:
            out.append(part)
    assert not pending, "more values than placeholders"
    return "".join(out)


def registered_migrations():
    """The files `schemas/src/migrations.rs` includes, in its order."""
    source = (REPO / "schemas" / "src" / "migrations.rs").read_text()
    return re.findall(r'include_str!\("\.\./clickhouse/([^"]+)"\)', source)


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chdb(tmp_path_factory):
    session = chdb_session.Session(str(tmp_path_factory.mktemp("chdb")))
    yield session
    session.close()


class Database:
    """One migrated database of its own, current while the test runs."""

    def __init__(self, session, name):
        self.session, self.name = session, name

    def execute(self, sql):
        self.session.query(sql)

    def rows(self, sql):
        text = self.session.query(sql, "JSONEachRow").bytes().decode()
        return [json.loads(line) for line in text.splitlines() if line]

    def scalar(self, sql):
        (row,) = self.rows(sql)
        (value,) = row.values()
        return value

    def insert_events(self, *events):
        """Rows into `events` as the sink writes them (one insert, like one sink batch)."""
        columns = sorted({k for e in events for k in e})
        values = ",".join(
            "(" + ",".join(_literal_or_null(e.get(c)) for c in columns) + ")" for e in events
        )
        self.execute(f"INSERT INTO events ({', '.join(columns)}) VALUES {values}")

    def search(self, table, customer_id, user_id, entity_id, recording_ids, latest=False,
               page=1, page_size=10):
        per_recording = 1 if latest else ALL_EVENTS
        filters = (Identifier(table), customer_id, user_id, entity_id, list(recording_ids),
                   per_recording)
        offset = (page - 1) * page_size
        rows = self.rows(bind(SEARCH_SQL, *filters, offset, page_size))
        count = self.scalar(bind(COUNT_SQL, *filters))
        return rows, int(count)


def _literal_or_null(value):
    return "NULL" if value is None else _literal(value)


@pytest.fixture
def db(chdb):
    name = f"t_{uuid.uuid4().hex[:12]}"
    chdb.query(f"CREATE DATABASE {name}")
    chdb.query(f"USE {name}")
    database = Database(chdb, name)
    for _ in range(2):  # idempotent: a second run changes nothing and fails nowhere
        for file in registered_migrations():
            for statement in statements((CLICKHOUSE / file).read_text()):
                database.execute(statement)
    yield database
    chdb.query("USE default")
    chdb.query(f"DROP DATABASE IF EXISTS {name}")


T0 = 1_541_164_324_000  # 2018-11-02T13:12:04.000Z, the document's sample time


def crm_event(uid, entity_type, entity_id, recording_id, event_id, received_ms, *,
              user_id="user#2", customer_id="customer#2", source=None, message="message",
              version_info=None, batch="b-1"):
    source = source or f"crm.{entity_type}_analytics"
    label = "Lead" if entity_type == "lead" else "Contact"
    return {
        "event_uid": uid,
        "tenant": "default",
        "source": source,
        "batch_id": batch,
        "event_index": 0,
        "event_id": event_id,
        "event_name": "view",
        "event_time": received_ms // 1000,
        "event_time_ms": received_ms,
        "received_at": received_ms // 1000,
        "received_at_ms": received_ms,
        "user_key": user_id,
        "user_key_kind": "user_id",
        "user_id": user_id,
        "customer_id": customer_id,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "tool_signature": "vfp",
        "recording_id": recording_id,
        "message": message,
        "javascript_local_time": "local_time",
        "record_partition_key": f"{label} analytics event|{batch}",
        "properties": json.dumps({"version_info": version_info}, separators=(",", ":"))
        if version_info is not None
        else "{}",
        "raw": "{}",
    }


def payment(uid, amount, currency, received_ms, user_key="payer-1"):
    return {
        "event_uid": uid,
        "tenant": "default",
        "source": "s2s.customRevenue",
        "batch_id": "b-r",
        "event_index": 0,
        "event_id": None,
        "event_name": "customRevenue",
        "event_time": received_ms // 1000,
        "event_time_ms": received_ms,
        "received_at": received_ms // 1000,
        "received_at_ms": received_ms,
        "user_key": user_key,
        "user_key_kind": "custom_user_id",
        "transaction_id": uid,
        "revenue_amount": amount,
        "currency": currency,
        "properties": "{}",
        "raw": "{}",
    }


# -- the tests -----------------------------------------------------------------------------------


def test_every_migration_file_is_registered_in_order():
    files = sorted(p.name for p in CLICKHOUSE.glob("[0-9][0-9][0-9]_*.sql"))
    assert registered_migrations() == files


def test_no_migration_or_query_contains_a_bind_placeholder_by_accident():
    for file in registered_migrations():
        assert "?" not in (CLICKHOUSE / file).read_text(), file
    assert SEARCH_SQL.count("?") == 8
    assert COUNT_SQL.count("?") == 6


def test_migrations_apply_twice_and_every_column_has_a_comment(db):
    tables = {r["name"] for r in db.rows(f"SELECT name FROM system.tables WHERE database = '{db.name}'")}
    assert {"events", "lead_analytics", "contact_analytics", "revenue", "events_per_day",
            "daily_active_users", "revenue_per_day", "lead_analytics_from_events",
            "contact_analytics_from_events", "revenue_from_events"} <= tables
    uncommented = db.rows(
        "SELECT table, name FROM system.columns WHERE database = currentDatabase() "
        "AND table IN ('events', 'lead_analytics', 'contact_analytics', 'revenue') "
        "AND comment = ''"
    )
    assert uncommented == []


def test_materialized_views_file_crm_events_by_entity_and_payments_as_revenue(db):
    db.insert_events(
        crm_event("u1", "lead", "lead#1", "rec#1", "e1", T0, version_info={"key": "value"}),
        crm_event("u2", "contact", "contact#1", "rec#1", "e2", T0),
        crm_event("u3", "lead", "lead#2", "rec#2", "e3", T0, source="crm.analytics_events"),
        payment("p1", "10.99", "USD", T0),
        {**payment("p2", None, None, T0), "event_name": "login", "source": "s2s.login"},
    )
    leads = db.rows("SELECT event_uid, entity_type, lead_id, version_info, partition_key, "
                    "created_at_ms, updated_at_ms, toString(created_at) AS created FROM lead_analytics ORDER BY event_uid")
    assert [r["event_uid"] for r in leads] == ["u1", "u3"]
    assert leads[0]["entity_type"] == "lead"
    assert leads[0]["lead_id"] == "lead#1"
    assert json.loads(leads[0]["version_info"]) == {"key": "value"}
    assert leads[1]["version_info"] is None
    assert leads[0]["partition_key"] == "Lead analytics event|b-1"
    assert leads[0]["created_at_ms"] == leads[0]["updated_at_ms"] == T0
    assert leads[0]["created"] == "2018-11-02 13:12:04"
    contacts = db.rows("SELECT event_uid, contact_id FROM contact_analytics")
    assert contacts == [{"event_uid": "u2", "contact_id": "contact#1"}]
    revenue = db.rows("SELECT event_uid, toString(amount) AS amount, currency FROM revenue")
    assert revenue == [{"event_uid": "p1", "amount": "10.99", "currency": "USD"}]


def test_search_sql_filters_orders_pages_and_collapses_copies(db):
    db.insert_events(
        crm_event("u1", "lead", "lead#1", "rec#1", "view#1", T0, message="old copy"),
        crm_event("u2", "lead", "lead#1", "rec#1", "view#2", T0 + 1000),
        crm_event("u3", "lead", "lead#1", "rec#2", "view#3", T0 + 2000),
        crm_event("u4", "lead", "lead#1", "rec#2", "view#4", T0 + 3000),
        crm_event("u5", "lead", "lead#1", "rec#3", "view#5", T0 + 4000),
        # Another user, another lead, another customer, a contact: never in the lead search.
        crm_event("x1", "lead", "lead#1", "rec#1", "x1", T0, user_id="user#3"),
        crm_event("x2", "lead", "lead#2", "rec#1", "x2", T0),
        crm_event("x3", "lead", "lead#1", "rec#1", "x3", T0, customer_id="customer#3"),
        crm_event("x4", "contact", "lead#1", "rec#1", "x4", T0),
    )
    # The same event again (u1: a client re-send, accepted later): two rows, one result.
    db.insert_events(crm_event("u1", "lead", "lead#1", "rec#1", "view#1", T0 + 5000,
                               message="new copy", batch="b-2"))
    assert db.scalar("SELECT count() FROM lead_analytics WHERE event_uid = 'u1'") == 2

    def lead_search(recordings, **kwargs):
        return db.search("lead_analytics", "customer#2", "user#2", "lead#1", recordings, **kwargs)

    rows, count = lead_search(["rec#1", "rec#2", "rec#3"])
    assert count == 5
    assert [r["event_id"] for r in rows] == ["view#1", "view#5", "view#4", "view#3", "view#2"]
    newest = rows[0]
    assert newest["message"] == "new copy"
    assert newest["created_at_ms"] == newest["updated_at_ms"] == T0 + 5000
    assert list(newest) == ["customer_id", "entity_type", "entity_id", "user_id",
                            "tool_signature", "recording_id", "event_type", "event_id",
                            "message", "created_at_ms", "updated_at_ms"]

    rows, count = lead_search(["rec#2"])
    assert ([r["event_id"] for r in rows], count) == (["view#4", "view#3"], 2)

    rows, count = lead_search(["rec#1", "rec#2", "rec#3"], latest=True)
    assert ([r["event_id"] for r in rows], count) == (["view#1", "view#5", "view#4"], 3)
    rows, count = lead_search(["rec#1", "rec#2", "rec#3"], latest=True, page=2, page_size=2)
    assert ([r["event_id"] for r in rows], count) == (["view#4"], 3)

    pages = [lead_search(["rec#1", "rec#2", "rec#3"], page=p, page_size=2) for p in (1, 2, 3, 4)]
    assert [[r["event_id"] for r in rows] for rows, _ in pages] == [
        ["view#1", "view#5"], ["view#4", "view#3"], ["view#2"], []]
    assert {count for _, count in pages} == {5}
    rows, count = lead_search(["rec#1"], page=4294967295, page_size=1000)
    assert (rows, count) == ([], 2)

    rows, count = db.search("contact_analytics", "customer#2", "user#2", "lead#1", ["rec#1"])
    assert ([r["event_id"] for r in rows], count) == (["x4"], 1)


@pytest.mark.parametrize("attack", [
    "' OR '1'='1",
    "x' OR 1=1 --",
    "') OR 1=1 --",
    "'] OR 1 --",
    "\\' OR 1=1 --",
    "lead#1' UNION ALL SELECT * FROM system.tables --",
    "`; DROP TABLE events; --",
    "a\nb\tc",
    "?",
])
def test_search_values_are_data_never_sql(db, attack):
    db.insert_events(crm_event("u1", "lead", "lead#1", "rec#1", "view#1", T0),
                     crm_event("u2", "lead", attack, attack, "view#2", T0))
    for args in [
        (attack, "user#2", "lead#1", ["rec#1"]),
        ("customer#2", attack, "lead#1", ["rec#1"]),
        ("customer#2", "user#2", attack, ["rec#1"]),
        ("customer#2", "user#2", "lead#1", [attack, "x" + attack]),
    ]:
        assert db.search("lead_analytics", *args) == ([], 0), args
    # The same text stored as data is found as itself.
    rows, count = db.search("lead_analytics", "customer#2", "user#2", attack, [attack])
    assert count == 1 and rows[0]["recording_id"] == attack
    assert db.scalar("SELECT count() FROM events") == 2


def test_bi_views_count_copies_once_when_queried_from_another_database(db):
    day = T0 + 3_600_000
    db.insert_events(
        crm_event("u1", "lead", "lead#1", "rec#1", "view#1", T0),
        crm_event("u2", "contact", "contact#1", "rec#1", "view#2", T0, user_id="user#3"),
        payment("p1", "10.99", "USD", T0),
        payment("p2", "0.01", "USD", T0),
        payment("p3", "5", "EUR", T0, user_key="payer-2"),
        {**payment("a1", None, None, day), "event_name": "login", "source": "s2s.login",
         "user_key": "event:a1", "user_key_kind": "event"},
    )
    # Redelivery of the whole batch but the login, and a later re-send of u1 and p1.
    db.insert_events(
        crm_event("u1", "lead", "lead#1", "rec#1", "view#1", T0),
        crm_event("u2", "contact", "contact#1", "rec#1", "view#2", T0, user_id="user#3"),
        payment("p1", "10.99", "USD", T0),
        payment("p2", "0.01", "USD", T0),
        payment("p3", "5", "EUR", T0, user_key="payer-2"),
    )
    db.insert_events(crm_event("u1", "lead", "lead#1", "rec#1", "view#1", T0 + 10),
                     payment("p1", "10.99", "USD", T0 + 10))
    assert db.scalar("SELECT count() FROM events") == 13
    name = db.name
    db.execute("USE default")  # BI tools connect to some other database and qualify names
    try:
        per_day = db.rows(
            f"SELECT toString(day) AS day, source, event_name, events, users FROM {name}.events_per_day "
            "ORDER BY source, event_name")
        assert per_day == [
            {"day": "2018-11-02", "source": "crm.contact_analytics", "event_name": "view", "events": 1, "users": 1},
            {"day": "2018-11-02", "source": "crm.lead_analytics", "event_name": "view", "events": 1, "users": 1},
            {"day": "2018-11-02", "source": "s2s.customRevenue", "event_name": "customRevenue", "events": 3, "users": 2},
            {"day": "2018-11-02", "source": "s2s.login", "event_name": "login", "events": 1, "users": 0},
        ]
        active = db.rows(f"SELECT toString(day) AS day, tenant, active_users, events, anonymous_events "
                         f"FROM {name}.daily_active_users")
        assert active == [{"day": "2018-11-02", "tenant": "default", "active_users": 4,
                           "events": 6, "anonymous_events": 1}]
        revenue = db.rows(f"SELECT currency, toString(revenue) AS revenue, payments, paying_users "
                          f"FROM {name}.revenue_per_day ORDER BY currency")
        assert revenue == [
            {"currency": "EUR", "revenue": "5", "payments": 1, "paying_users": 1},
            {"currency": "USD", "revenue": "11", "payments": 2, "paying_users": 1},
        ]
    finally:
        db.execute(f"USE {name}")
