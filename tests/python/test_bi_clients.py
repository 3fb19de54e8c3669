"""BI clients against the local default ClickHouse, as the README's BI section shows them:
clickhouse-connect (HTTP; what Superset and most notebooks use) and clickhouse-driver (native
protocol; the driver under clickhouse-sqlalchemy) read the BI views with bound parameters,
from another database, with the migrated model's rows in place."""

from decimal import Decimal

import clickhouse_connect
import pytest
from clickhouse_driver import Client

from test_model import T0, crm_event, new_database, payment, registered_migrations


@pytest.fixture(scope="module")
def bi_db(server):
    db = new_database(server)
    db.migrate(registered_migrations())
    db.insert_events(crm_event("u1", "lead", "lead#1", "rec#1", "view#1", T0),
                     payment("p1", "10.99", "USD", T0), payment("p2", "5", "EUR", T0, "payer-2"))
    db.insert_events(payment("p1", "10.99", "USD", T0 + 10))  # a re-sent payment
    yield db
    server.post(f"DROP DATABASE IF EXISTS {db.name} SYNC")


def test_clickhouse_connect_reads_every_bi_view_with_bound_parameters(server, bi_db):
    client = clickhouse_connect.get_client(host=server.host, port=server.http_port,
                                           username="default", database="default")
    try:
        assert client.server_version.startswith("26.")
        revenue = client.query(
            f"SELECT toString(day), currency, revenue, payments FROM {bi_db.name}.revenue_per_day"
            " WHERE tenant = {tenant:String} ORDER BY currency",
            parameters={"tenant": "default"},
        ).result_rows
        assert revenue == [("2018-11-02", "EUR", Decimal("5"), 1),
                           ("2018-11-02", "USD", Decimal("10.99"), 1)]
        per_day = client.query(
            f"SELECT source, events FROM {bi_db.name}.events_per_day ORDER BY source").result_rows
        assert per_day == [("crm.lead_analytics", 1), ("s2s.customRevenue", 2)]
        active = client.query(
            f"SELECT active_users, events FROM {bi_db.name}.daily_active_users").result_rows
        assert active == [(3, 3)]
        frame = client.query(f"SELECT * FROM {bi_db.name}.revenue_per_day")
        assert frame.column_names == ("day", "tenant", "currency", "revenue", "payments",
                                      "paying_users")
    finally:
        client.close()


def test_clickhouse_driver_reads_the_views_over_the_native_protocol(server, bi_db):
    client = Client(host=server.host, port=server.tcp_port, database=bi_db.name)
    try:
        rows = client.execute(
            "SELECT currency, revenue, payments FROM revenue_per_day"
            " WHERE tenant = %(tenant)s ORDER BY currency",
            {"tenant": "default"},
        )
        assert rows == [("EUR", Decimal("5"), 1), ("USD", Decimal("10.99"), 1)]
        (version,), = client.execute("SELECT version()")
        assert version.startswith("26.")
    finally:
        client.disconnect()
