"""The server the Python tests talk to: the real ClickHouse of deploy/local/stack, named by
TRIBUTARY_TEST_CLICKHOUSE_URL (HTTP) and TRIBUTARY_TEST_CLICKHOUSE_TCP_PORT (native), both
set by scripts/test.sh. Without them every test fails: none passes by skipping."""

import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CLICKHOUSE = REPO / "schemas" / "clickhouse"


class Server:
    """ClickHouse over HTTP: one statement per request, the text sent exactly as given."""

    def __init__(self, url, tcp_port):
        self.url, self.tcp_port = url.rstrip("/"), tcp_port
        parsed = urllib.parse.urlparse(self.url)
        self.host, self.http_port = parsed.hostname, parsed.port

    def post(self, sql, database="default", fmt=None):
        params = {"database": database}
        if fmt:
            params["default_format"] = fmt
        request = urllib.request.Request(
            f"{self.url}/?{urllib.parse.urlencode(params)}", data=sql.encode(), method="POST")
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.read().decode()
        except urllib.error.HTTPError as error:
            raise AssertionError(f"ClickHouse refused:\n{sql}\n-> {error.read().decode()}") from None


@pytest.fixture(scope="session")
def server():
    url = os.environ.get("TRIBUTARY_TEST_CLICKHOUSE_URL")
    tcp = os.environ.get("TRIBUTARY_TEST_CLICKHOUSE_TCP_PORT")
    if not url or not tcp:
        pytest.fail("TRIBUTARY_TEST_CLICKHOUSE_URL and TRIBUTARY_TEST_CLICKHOUSE_TCP_PORT are not "
                    "set: run the tests with scripts/test.sh, which starts ClickHouse")
    server = Server(url, int(tcp))
    assert server.post("SELECT 1").strip() == "1"
    return server
