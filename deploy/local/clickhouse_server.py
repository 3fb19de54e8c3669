"""ClickHouse server for the local stack, from PyPI's chdb-core (deploy/local/stack starts it).

chdb-core's library is the whole clickhouse-local, which can open real server listeners: in
a directory holding a `config.xml`, one `chdb._chdb.query` call starts the HTTP and native
listeners and then runs a query that never ends, so the process serves until it is stopped.
It must be that one-shot call (`chdb.connect()` refuses: "start_servers_callback is not set").

    python clickhouse_server.py DIR      DIR holds config.xml (and the users.xml it names)

Stops cleanly on SIGTERM or SIGINT: it cancels its own serving query (which closes the
listeners), waits for the call to return and exits 0. The process exits non-zero when the
serving query ends for any other reason, so its pid file never points at a server that no
longer listens. Standard library and chdb only.
"""

import os
import signal
import sys
import threading
import urllib.request
import xml.etree.ElementTree as ET

# The comment marks the serving query so that a clean stop can cancel exactly it.
SERVE_TAG = "tributary-local-server"
SERVE = (
    "SYSTEM START LISTEN HTTP; SYSTEM START LISTEN TCP; "
    "SELECT sum(sleepEachRow(1)) FROM system.numbers SETTINGS max_block_size = 1, "
    "function_sleep_max_microseconds_per_block = 0, max_execution_time = 0, "
    f"log_comment = '{SERVE_TAG}'"
)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: clickhouse_server.py DIR (holding config.xml)")
    os.chdir(sys.argv[1])  # clickhouse-local reads config.xml from its working directory
    http_port = ET.parse("config.xml").findtext("http_port")

    from chdb import _chdb  # noqa: E402 (imported after chdir: it loads the config on use)

    ended = threading.Event()
    outcome = {}

    def serve():
        try:
            _chdb.query(SERVE, "TabSeparated")
        except Exception as error:  # the cancel of a clean stop lands here too
            outcome["error"] = error
        ended.set()

    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    threading.Thread(target=serve, name="serve", daemon=True).start()
    while not stopping.wait(0.5):
        if ended.is_set():
            print(f"clickhouse: the serving query ended: {outcome.get('error')}", file=sys.stderr)
            os._exit(1)
    cancel = f"KILL QUERY WHERE Settings['log_comment'] = '{SERVE_TAG}' SYNC".encode()
    try:
        urllib.request.urlopen(
            urllib.request.Request(f"http://127.0.0.1:{http_port}/", data=cancel), timeout=10
        ).read()
    except OSError:
        pass  # the listener closes while it answers; the wait below is what counts
    if not ended.wait(8):  # deploy/local/stack kills after 10 s
        print("clickhouse: serving query not cancelled within 8 s; exiting", file=sys.stderr)
        os._exit(1)
    # A normal return: chdb tears its context down (background merges stop, logs flush).


if __name__ == "__main__":
    main()
