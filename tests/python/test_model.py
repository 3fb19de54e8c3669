"""The ClickHouse model on the real local ClickHouse (26.9, deploy/local/stack).

Applies every migration of `schemas/clickhouse/` in order into a database of its own, inserts
events the way the sink does, and runs the lead/contact search SQL of
`schemas/clickhouse/queries/` (bound exactly as the clickhouse crate binds it) and the BI
views; also migrates a database that holds data in the shape of migrations 1 to 4.
`scripts/test.sh` runs it against its stack; by hand:

    deploy/local/stack up   # then, with the stack's HTTP port:
    TRIBUTARY_TEST_CLICKHOUSE_URL=http://127.0.0.1:8123 python3 -m pytest -p no:cacheprovider tests/python -q
"""

import json
import re
import uuid

import pytest

from conftest import CLICKHOUSE, REPO

SEARCH_SQL = (CLICKHOUSE / "queries" / "search.sql").read_text()
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


class Database:
    """One database of its own on the server, the connection's default while the test runs."""

    def __init__(self, server, name):
        self.server, self.name = server, name

    def execute(self, sql):
        self.server.post(sql, self.name)

    def rows(self, sql):
        text = self.server.post(sql, self.name, fmt="JSONEachRow")
        return [json.loads(line) for line in text.splitlines() if line]

    def scalar(self, sql):
        (row,) = self.rows(sql)
        (value,) = row.values()
        return value

    def migrate(self, files):
        """Apply `files` (migration file names) in order, as `tributary-sink migrate` does."""
        for file in files:
            for statement in statements((CLICKHOUSE / file).read_text()):
                self.execute(statement)

    def stop_merges(self):
        """Keep every copy in place, so a query's collapse, not a merge, is what is tested."""
        for table in ("events", "lead_analytics", "contact_analytics", "revenue"):
            self.execute(f"SYSTEM STOP MERGES {self.name}.{table}")

    def insert_events(self, *events):
        """Rows into `events` as the sink writes them (one insert, like one sink batch)."""
        columns = sorted({k for e in events for k in e})
        values = ",".join(
            "(" + ",".join(_literal_or_null(e.get(c)) for c in columns) + ")" for e in events
        )
        self.execute(f"INSERT INTO events ({', '.join(columns)}) VALUES {values}")

    def search(self, table, customer_id, user_id, entity_id, recording_ids, latest=False,
               page=1, page_size=10, tenant="default"):
        per_recording = 1 if latest else ALL_EVENTS
        filters = (Identifier(table), tenant, customer_id, entity_id, list(recording_ids),
                   user_id, per_recording)
        offset = (page - 1) * page_size
        rows = self.rows(bind(SEARCH_SQL, *filters, offset, offset + page_size))
        # As gateway/src/search.rs reads them: the first match carries rowCount, and leaves
        # the page when its position is not on it.
        count = int(rows[0]["row_count"]) if rows else 0
        page_rows = [r for r in rows if int(r["position"]) > offset]
        for r in page_rows:
            del r["row_count"], r["position"]
        return page_rows, count


def _literal_or_null(value):
    return "NULL" if value is None else _literal(value)


def new_database(server):
    name = f"t_{uuid.uuid4().hex[:12]}"
    server.post(f"CREATE DATABASE {name}")
    return Database(server, name)


@pytest.fixture
def db(server):
    database = new_database(server)
    database.migrate(registered_migrations())
    database.stop_merges()
    yield database
    server.post(f"DROP DATABASE IF EXISTS {database.name} SYNC")


T0 = 1_541_164_324_000  # 2018-11-02T13:12:04.000Z, the document's sample time


def crm_event(uid, entity_type, entity_id, recording_id, event_id, received_ms, *,
              user_id="user#2", customer_id="customer#2", source=None, message="message",
              version_info=None, batch="b-1", tenant="default"):
    source = source or f"crm.{entity_type}_analytics"
    label = "Lead" if entity_type == "lead" else "Contact"
    return {
        "event_uid": uid,
        "tenant": tenant,
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
    assert SEARCH_SQL.count("?") == 9


def test_migrations_create_every_table_sorted_by_the_uid_and_every_column_has_a_comment(db):
    tables = {r["name"]: r for r in db.rows(
        f"SELECT name, sorting_key, partition_key FROM system.tables WHERE database = '{db.name}'")}
    assert {"events", "lead_analytics", "contact_analytics", "revenue", "events_per_day",
            "daily_active_users", "revenue_per_day", "lead_analytics_from_events",
            "contact_analytics_from_events", "revenue_from_events", "erasures"} == set(tables)
    # Only what every copy of an event shares: DESIGN.md, "One event_uid is one row". A CRM
    # uid is derived from tenant, source, customer, entity and recording (the enricher's rule).
    for table, key in [("events", "tenant, event_uid"), ("revenue", "tenant, event_uid"),
                       ("lead_analytics", "tenant, customer_id, entity_id, recording_id, event_uid"),
                       ("contact_analytics", "tenant, customer_id, entity_id, recording_id, event_uid")]:
        assert tables[table]["sorting_key"] == key, table
        assert tables[table]["partition_key"] == "", table
    uncommented = db.rows(
        "SELECT table, name FROM system.columns WHERE database = currentDatabase() "
        "AND table IN ('events', 'lead_analytics', 'contact_analytics', 'revenue', 'erasures') "
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
        # Another tenant's event with every other value equal: never in this tenant's search.
        crm_event("x5", "lead", "lead#1", "rec#1", "x5", T0 + 6000, tenant="other"),
    )
    # The same event again (u1: a client re-send, accepted later): two rows, one result.
    db.insert_events(crm_event("u1", "lead", "lead#1", "rec#1", "view#1", T0 + 5000,
                               message="new copy", batch="b-2"))
    assert db.scalar("SELECT count() FROM lead_analytics WHERE event_uid = 'u1'") == 2
    assert db.scalar("SELECT count() FROM lead_analytics FINAL WHERE event_uid = 'u1'") == 1

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

    rows, count = lead_search(["rec#1", "rec#2", "rec#3"], tenant="other")
    assert ([r["event_id"] for r in rows], count) == (["x5"], 1)


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
    # BI tools connect to some other database and qualify names.
    other = Database(db.server, "default")
    per_day = other.rows(
        f"SELECT toString(day) AS day, source, event_name, events, users FROM {name}.events_per_day "
        "ORDER BY source, event_name")
    assert per_day == [
        {"day": "2018-11-02", "source": "crm.contact_analytics", "event_name": "view", "events": 1, "users": 1},
        {"day": "2018-11-02", "source": "crm.lead_analytics", "event_name": "view", "events": 1, "users": 1},
        {"day": "2018-11-02", "source": "s2s.customRevenue", "event_name": "customRevenue", "events": 3, "users": 2},
        {"day": "2018-11-02", "source": "s2s.login", "event_name": "login", "events": 1, "users": 0},
    ]
    active = other.rows(f"SELECT toString(day) AS day, tenant, active_users, events, anonymous_events "
                        f"FROM {name}.daily_active_users")
    assert active == [{"day": "2018-11-02", "tenant": "default", "active_users": 4,
                       "events": 6, "anonymous_events": 1}]
    revenue = other.rows(f"SELECT currency, toString(revenue) AS revenue, payments, paying_users "
                         f"FROM {name}.revenue_per_day ORDER BY currency")
    assert revenue == [
        {"currency": "EUR", "revenue": "5", "payments": 1, "paying_users": 1},
        {"currency": "USD", "revenue": "11", "payments": 2, "paying_users": 1},
    ]


def test_copies_under_another_day_source_or_recording_count_once_everywhere(db):
    """The issue's repro in SQL: one payment at two event times and under two sources, one
    CRM event re-sent by another user with another message; each is one row in FINAL,
    LIMIT 1 BY, the views and the search, and counts under its newest copy."""
    march = 1_585_000_000_000
    db.insert_events(payment("p1", "10.99", "USD", 1_580_213_208_000))
    db.insert_events({**payment("p1", "10.99", "USD", march), "received_at_ms": march + 10})
    db.insert_events({**payment("p1", "10.99", "USD", march), "received_at_ms": march + 20,
                      "source": "s2s.customRevenueBatch"})
    # Two inserts: copies inside one insert collapse at once (optimize_on_insert).
    db.insert_events(crm_event("u1", "lead", "lead#1", "rec#1", "view#1", T0, message="old"))
    db.insert_events(crm_event("u1", "lead", "lead#1", "rec#1", "view#1", T0 + 5, message="new",
                               user_id="user#3"))
    assert db.scalar("SELECT count() FROM events") == 5
    for sql in ["SELECT count() FROM events FINAL",
                "SELECT count() FROM (SELECT event_uid FROM events ORDER BY received_at_ms DESC "
                "LIMIT 1 BY event_uid)",
                "SELECT sum(events) FROM events_per_day",
                "SELECT sum(events) FROM daily_active_users"]:
        assert db.scalar(sql) == 2, sql
    for sql in ["SELECT count() FROM revenue FINAL", "SELECT sum(payments) FROM revenue_per_day",
                "SELECT count() FROM lead_analytics FINAL"]:
        assert db.scalar(sql) == 1, sql
    assert db.rows("SELECT toString(day) AS day, source FROM events_per_day "
                   "WHERE event_name = 'customRevenue'") == [
        {"day": "2020-03-23", "source": "s2s.customRevenueBatch"}]
    rows, count = db.search("lead_analytics", "customer#2", "user#3", "lead#1", ["rec#1"])
    assert (count, [(r["user_id"], r["message"]) for r in rows]) == (1, [("user#3", "new")])
    # The old copy is no longer the event: a search for its user finds nothing.
    assert db.search("lead_analytics", "customer#2", "user#2", "lead#1", ["rec#1"]) == ([], 0)


def test_migration_5_moves_data_of_migrations_1_to_4_into_one_row_per_uid(server):
    db = new_database(server)
    try:
        files = registered_migrations()
        assert files[4] == "005_one_row_per_event_uid.sql"
        db.migrate(files[:4])
        # Data stored by the old model: copies under two days, two sources, two recordings.
        db.insert_events(payment("p1", "10.99", "USD", 1_580_213_208_000),
                         crm_event("u1", "lead", "lead#1", "rec#1", "view#1", T0))
        db.insert_events({**payment("p1", "10.99", "USD", 1_585_000_000_000),
                          "source": "s2s.customRevenueBatch"},
                         crm_event("u1", "lead", "lead#1", "rec#1", "view#1", T0 + 5,
                                   user_id="user#3"),
                         payment("p2", "1", "EUR", T0))
        # The defect migration 5 fixes: copies on two days never collapse, in events nor in
        # revenue, nor copies by two users in lead_analytics.
        assert db.scalar("SELECT count() FROM events FINAL") == 4
        assert db.scalar("SELECT count() FROM revenue FINAL") == 3
        assert db.scalar("SELECT count() FROM lead_analytics FINAL") == 2
        db.migrate(files[4:])
        # Copies collapse as they move (one INSERT ... SELECT block, optimize_on_insert).
        assert db.scalar("SELECT count() FROM events") == 3
        assert db.scalar("SELECT count() FROM events FINAL") == 3
        assert db.rows("SELECT event_uid, source, toString(event_time) AS t FROM events "
                       "WHERE event_uid = 'p1'") == [
            {"event_uid": "p1", "source": "s2s.customRevenueBatch", "t": "2020-03-23 21:46:40"}]
        assert db.scalar("SELECT count() FROM revenue FINAL") == 2
        assert db.scalar("SELECT count() FROM lead_analytics FINAL") == 1
        assert db.scalar("SELECT sum(payments) FROM revenue_per_day") == 2
        assert db.scalar("SELECT sum(events) FROM events_per_day") == 3
        leftovers = db.rows(f"SELECT name FROM system.tables WHERE database = '{db.name}' "
                            "AND (name LIKE '%_by_uid' OR name LIKE '%_before_005')")
        assert leftovers == []
        # The materialized views fire on the new tables.
        db.insert_events(payment("p3", "2", "EUR", T0), crm_event("u2", "lead", "lead#1", "rec#1", "view#2", T0))
        assert db.scalar("SELECT count() FROM revenue FINAL") == 3
        assert db.scalar("SELECT count() FROM lead_analytics FINAL") == 2
    finally:
        server.post(f"DROP DATABASE IF EXISTS {db.name} SYNC")
