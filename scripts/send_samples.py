#!/usr/bin/env python3
"""Send the seed documents' own sample requests to a running gateway and print each answer."""
import json
import pathlib
import sys
import urllib.error
import urllib.request

SEEDS = pathlib.Path(__file__).resolve().parent.parent.parent / "shared" / "seeds"


def seed_000_json():
    text = (SEEDS / "000_ce11c2da22697c2b.txt").read_text()
    return text[text.index("{"):text.index("application/xml, text/xml")].strip()


def send(base, path, body, content_type="application/json", headers=None):
    request = urllib.request.Request(
        base + path, data=body.encode(), method="POST",
        headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, answer = response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        status, answer = error.code, error.read().decode()
    print(f"POST {path} [{content_type}] -> {status} {answer[:200]}")
    return status


def main():
    base = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:8080"
    body = seed_000_json()
    json.loads(body)
    send(base, "/api/analytics/events", body)


if __name__ == "__main__":
    main()
