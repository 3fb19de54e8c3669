#!/usr/bin/env python3
"""Fail when a service crate depends on another service crate, or `wire` on any service.

The three services (gateway, enricher, sink) share code only through the library crates
(`tributary-schemas`, `tributary-wire`, `tributary-service`, `tributary-normalize`), so that
each links only what it runs: the enricher reads request bodies with `tributary-wire`, never
through the gateway, and the gateway normalizes (for tenants hashed before Kafka) with
`tributary-normalize`, never through the enricher.
Reads `cargo metadata` (normal dependencies; tests, bench and fuzz may use anything).
"""
import json
import subprocess
import sys

SERVICES = {"tributary-gateway", "tributary-enricher", "tributary-sink"}
# Library crates and what they may not depend on.
FORBIDDEN = {name: SERVICES for name in SERVICES}
FORBIDDEN["tributary-wire"] = SERVICES | {"tributary-service"}
FORBIDDEN["tributary-normalize"] = SERVICES
FORBIDDEN["tributary-schemas"] = SERVICES | {"tributary-service", "tributary-wire"}


def main():
    metadata = json.loads(subprocess.check_output(
        ["cargo", "metadata", "--format-version", "1", "--no-deps"]))
    problems = []
    for package in metadata["packages"]:
        forbidden = FORBIDDEN.get(package["name"], set())
        for dep in package["dependencies"]:
            if dep.get("kind") is None and dep["name"] in forbidden - {package["name"]}:
                problems.append(f"{package['name']} depends on {dep['name']}")
    for problem in problems:
        print(f"crate dependencies: {problem} (share code through a library crate instead)")
    if problems:
        return 1
    print(f"crate dependencies: ok ({len(metadata['packages'])} crates; no service depends on another)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
