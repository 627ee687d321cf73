#!/usr/bin/env python3
"""Compare conformance results: every check that passes directly must pass through Portcullis.

The conformance runner (`conformance server ... -o DIR`) writes one folder per scenario,
`DIR/server-<scenario>-<timestamp>/checks.json`, holding a list of checks with `id`, `status`
(SUCCESS, FAILURE, WARNING, INFO, SKIPPED) and, when not successful, `errorMessage`.

    compare_checks.py --pair LABEL DIRECT_DIR RELAYED_DIR [--pair ...] [--strict LABEL DIR ...]
                      [--known-failures FILE]

`--pair`: each check that is SUCCESS in DIRECT_DIR must be SUCCESS in RELAYED_DIR too; a check
that holds counts as passed, one that does not (worse status, or missing) as failed.
`--strict`: every check in DIR must be SUCCESS (used for scenarios the bare upstream is not
expected to pass, such as dns-rebinding-protection, which is the gateway's job).

`--known-failures`: lines `LABEL scenario:check-id  # FIXME why`; a listed failure is reported as
known and not counted, and a listed check that now passes is a failure (the entry is stale).

Prints every regression with the relayed status and message, then `N passed, M failed` as its
last line. Exit status 0 only when M is 0 and at least one check was compared. Standard library
only, so it runs on the system Python before any venv exists.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

# server-<scenario>-2026-11-25T04-03-33-687Z
RUN_DIR = re.compile(r"^server-(?P<scenario>.+)-(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}-\d{2}-\d{2}-\d{3}Z)$")


def load_run(root: Path) -> dict[tuple[str, str], dict]:
    """Map (scenario, check key) to the check. A check id seen twice in one scenario gets `#2`, `#3`."""
    if not root.is_dir():
        raise SystemExit(f"compare_checks: no result folder {root}")
    latest: dict[str, tuple[str, Path]] = {}
    for child in sorted(root.iterdir()):
        match = RUN_DIR.match(child.name)
        if not match or not (child / "checks.json").is_file():
            continue
        scenario, ts = match.group("scenario"), match.group("ts")
        if scenario not in latest or ts > latest[scenario][0]:
            latest[scenario] = (ts, child / "checks.json")
    checks: dict[tuple[str, str], dict] = {}
    for scenario, (_, path) in sorted(latest.items()):
        try:
            entries = json.loads(path.read_text())
        except (OSError, ValueError) as err:
            raise SystemExit(f"compare_checks: cannot read {path}: {err}")
        seen: dict[str, int] = {}
        for entry in entries:
            check_id = str(entry.get("id", "?"))
            seen[check_id] = seen.get(check_id, 0) + 1
            key = check_id if seen[check_id] == 1 else f"{check_id}#{seen[check_id]}"
            checks[(scenario, key)] = entry
    return checks


def scenarios(checks: dict[tuple[str, str], dict]) -> set[str]:
    return {scenario for scenario, _ in checks}


def message(entry: dict | None) -> str:
    if entry is None:
        return "MISSING: the scenario produced no such check"
    text = " ".join(str(entry.get("errorMessage") or entry.get("description") or "").split())
    if len(text) > 500:
        text = text[:500] + " [...]"
    return f"{entry.get('status', '?')}: {text}"


def load_known(path: Path | None) -> dict[str, str]:
    """`LABEL scenario:check-id  # note` per line; returns {"LABEL scenario:check-id": note}."""
    known: dict[str, str] = {}
    if path is None:
        return known
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        # A comment starts at a `#` that begins the line or follows a space: ids may hold `#2`.
        line, *rest = re.split(r"(?:^|\s)#", raw, maxsplit=1)
        note = rest[0] if rest else ""
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise SystemExit(f"compare_checks: {path}:{number}: expected `LABEL scenario:check-id  # note`")
        known[" ".join(fields)] = note.strip()
    return known


class Tally:
    def __init__(self, known: dict[str, str]) -> None:
        self.known = known
        self.used: set[str] = set()
        self.passed = 0
        self.failed = 0
        self.known_failed = 0

    def record(self, label: str, check: str, ok: bool, line: str, kind: str) -> None:
        key = f"{label} {check}"
        if key in self.known:
            self.used.add(key)
            if ok:
                self.failed += 1
                print(f"[{label}]   STALE KNOWN FAILURE {check} passes now: remove it from the known-failures list")
            else:
                self.known_failed += 1
                print(f"[{label}]   known {kind.lower()} {line}  ({self.known[key] or 'no note'})")
        elif ok:
            self.passed += 1
        else:
            self.failed += 1
            print(f"[{label}]   {kind} {line}")


def compare_pair(tally: Tally, label: str, direct_dir: Path, relayed_dir: Path) -> None:
    direct, relayed = load_run(direct_dir), load_run(relayed_dir)
    baseline = sorted(key for key, entry in direct.items() if entry.get("status") == "SUCCESS")
    if not baseline:
        raise SystemExit(f"compare_checks: [{label}] no check passed directly in {direct_dir}; nothing to compare")
    held = sum(1 for key in baseline if relayed.get(key, {}).get("status") == "SUCCESS")
    print(f"[{label}] {len(baseline)} checks pass directly: {held} hold through Portcullis, {len(baseline) - held} regress")
    missing = sorted(scenarios(direct) - scenarios(relayed))
    if missing:
        print(f"[{label}]   scenarios with no relayed result: {', '.join(missing)}")
    for key in baseline:
        got = relayed.get(key)
        ok = got is not None and got.get("status") == "SUCCESS"
        tally.record(label, f"{key[0]}:{key[1]}", ok, f"{key[0]}:{key[1]}  {message(got)}", "REGRESSION")
    gained = sorted(
        f"{key[0]}:{key[1]}" for key, entry in relayed.items() if entry.get("status") == "SUCCESS" and key not in baseline
    )
    if gained:
        print(f"[{label}]   pass only through Portcullis (not counted): {', '.join(gained)}")


def check_strict(tally: Tally, label: str, run_dir: Path) -> None:
    checks = load_run(run_dir)
    if not checks:
        raise SystemExit(f"compare_checks: [{label}] no checks in {run_dir}")
    ok_count = sum(1 for entry in checks.values() if entry.get("status") == "SUCCESS")
    print(f"[{label}] {len(checks)} checks must pass: {ok_count} pass, {len(checks) - ok_count} fail")
    for key, entry in sorted(checks.items()):
        ok = entry.get("status") == "SUCCESS"
        tally.record(label, f"{key[0]}:{key[1]}", ok, f"{key[0]}:{key[1]}  {message(entry)}", "FAILED")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pair", nargs=3, action="append", default=[], metavar=("LABEL", "DIRECT", "RELAYED"))
    parser.add_argument("--strict", nargs=2, action="append", default=[], metavar=("LABEL", "DIR"))
    parser.add_argument("--known-failures", type=Path, metavar="FILE")
    args = parser.parse_args()
    if not args.pair and not args.strict:
        parser.error("nothing to compare")
    tally = Tally(load_known(args.known_failures))
    labels = set()
    for label, direct_dir, relayed_dir in args.pair:
        labels.add(label)
        compare_pair(tally, label, Path(direct_dir), Path(relayed_dir))
    for label, run_dir in args.strict:
        labels.add(label)
        check_strict(tally, label, Path(run_dir))
    for key in sorted(set(tally.known) - tally.used):
        # Only entries for the runs compared here: a run left out (one revision only) is not stale.
        if key.split(" ", 1)[0] in labels:
            tally.failed += 1
            print(f"STALE KNOWN FAILURE {key}: no such check passes directly any more; remove it from the list")
    if tally.known_failed:
        print(f"{tally.known_failed} known failures (listed in {args.known_failures}), not counted")
    print(f"{tally.passed} passed, {tally.failed} failed")
    return 0 if tally.failed == 0 and tally.passed > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
