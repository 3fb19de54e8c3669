#!/usr/bin/env python3
"""Send the seed documents' own sample requests to a running gateway and print each answer.

Samples are read from fixtures/ (the documents' samples, as printed); where a document's
sample is not valid as printed (the activity samples are not valid JSON), the smallest fix is
applied and said.
"""
import gzip
import json
import pathlib
import re
import sys
import urllib.error
import urllib.request

FIXTURES = pathlib.Path(__file__).resolve().parent.parent / "fixtures"
S2S_TOKEN = "skjdfASFasf03asdffar3asJHB32r"
ACTIVITY_KEY = "demo-netcore-key"


def fixture(name):
    return (FIXTURES / name).read_text()


# Lines fit a 120-column terminal: a longer answer is cut, marked with …
WIDTH = 119
ACCEPTED = []  # requests answered 2xx


def send(base, path, body, content_type="application/json", headers=None, gzipped=False):
    data = body.encode()
    headers = {"Content-Type": content_type, **(headers or {})}
    if gzipped:
        data = gzip.compress(data)
        headers["Content-Encoding"] = "gzip"
    request = urllib.request.Request(base + path, data=data, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, answer = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, answer = error.code, error.read().decode()
    label = f"POST {path} [{content_type}{', gzip' if gzipped else ''}]"
    line = f"{label:<70} -> {status} {' '.join(answer.split())}"
    print(line if len(line) <= WIDTH else line[: WIDTH - 1] + "…")
    if 200 <= status < 300:
        ACCEPTED.append(path)
    return status


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
    failures = 0

    # Seed 000: the JSON sample and the DataContract XML sample, as printed.
    json_sample = fixture("000_mobile_batch/request.json")
    xml_sample = fixture("000_mobile_batch/request.xml")
    failures += send(base, "/api/analytics/events", json_sample) != 202
    failures += send(base, "/api/analytics/events", xml_sample.replace(
        "<d2p1:event_id>sample string 1<", "<d2p1:event_id>xml sample 1<"), "application/xml") != 202
    form = "events[0].event_id=form-1&events[0].event_name=signup&events[0].timestamp_utc=1580213208"
    failures += send(base, "/api/analytics/events", form, "application/x-www-form-urlencoded") != 202

    # Seed 001: the lead, contact and browser-extension request bodies, as printed.
    bodies = [fixture(f"001_crm/{name}.request.json") for name in (
        "analytics_events", "lead_analytics", "contact_analytics", "lead_analytics.browser_extension")]
    for body in bodies:
        document = json.loads(body)
        if "lead_id" in document or document.get("tool_signature") == "browser_extension":
            path = "/api/v1/lead_analytics"
        elif "contact_id" in document:
            path = "/api/v1/contact_analytics"
        else:
            # The analytics_events sample's entity_type is the placeholder "lead or contact".
            document["entity_type"] = "lead"
            body = json.dumps(document)
            path = "/api/v1/analytics_events"
        failures += send(base, path, body) != 201

    # Seed 002: the document's curl example and its batch examples.
    s2s = {"Authorization": S2S_TOKEN}
    curl = fixture("002_s2s/customEvent.curl.json")
    failures += send(base, "/v1/customEvent/?idApp=666", curl, "application/x-www-form-urlencoded", s2s) != 200
    for method in ("registrationBatch", "loginBatch", "customEventBatch"):
        example = fixture(f"002_s2s/{method}.json")
        failures += send(base, f"/v1/{method}/?idApp=666", example, headers=s2s) != 200
    revenue = ('{"customUserId": "1111", "eventTimestamp": 1580213208, "idTransaction": "order1234", '
               '"currency": "USD", "total": 1.99}')
    failures += send(base, "/v1/customRevenue/?idApp=666", revenue, headers=s2s, gzipped=True) != 200

    # Seed 003: the bulk sample. As printed it is not valid JSON (two activities miss their
    # closing brace); this sends it with the braces restored.
    bearer = {"Authorization": f"Bearer {ACTIVITY_KEY}"}
    bulk = fixture("003_activity/sample_bulk.as_printed.json")
    fixed = bulk.replace(']\n},\n{\n"activity_name":"Add To Cart"', ']\n}\n},\n{\n"activity_name":"Add To Cart"')
    fixed = fixed.replace(']\n}\n]', ']\n}\n}\n]') if fixed.rstrip().endswith("]\n}\n]") else fixed
    try:
        json.loads(fixed)
    except ValueError:
        fixed = re.sub(r'\]\n\},\n\{\n"activity_name":"Checkout"', ']}\n},\n{\n"activity_name":"Checkout"', fixed)
    try:
        json.loads(fixed)
        failures += send(base, "/v1/activity/upload", fixed, headers=bearer) != 200
    except ValueError as error:
        print(f"activity bulk sample could not be repaired automatically: {error}")
        failures += 1

    print(f"{'samples sent':<70} -> {'all accepted' if not failures else f'{failures} refused'}")
    # For scripts/run.sh, which waits for exactly these requests' rows.
    if len(sys.argv) > 2:
        pathlib.Path(sys.argv[2]).write_text(f"{len(ACCEPTED)}\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
