"""Checks the pinned requirements against known vulnerabilities with pip-audit (`make audit`).

pip-audit says "No known vulnerabilities found" and exits 0 even when it could reach no
advisory database and audited nothing (every package "skipped"). This wrapper reads its JSON
report and says plainly which of three things happened:

- a known vulnerability with a fixed version: listed, exit 1 (CI fails);
- nothing could be checked (no advisory database reachable): says NOT CHECKED, exit 0, or
  exit 2 with ``--strict`` (use it where the network reaches pypi.org or osv.dev);
- everything checked, nothing found: exit 0.

Usage: python -m tools.audit [--strict] [--pip-audit PATH] [--report FILE] requirements.txt
(``--report`` reads a saved ``pip-audit -f json`` report instead of running pip-audit.)
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List


@dataclass
class Verdict:
    """What a pip-audit JSON report says."""

    checked: List[str] = field(default_factory=list)
    skipped: List[str] = field(default_factory=list)
    fixable: List[str] = field(default_factory=list)  # "name version: ID (fixed in ...)"
    unfixed: List[str] = field(default_factory=list)

    @property
    def nothing_checked(self) -> bool:
        return not self.checked


def read_report(report: Dict[str, Any]) -> Verdict:
    """Sorts pip-audit's ``dependencies`` into checked, skipped and vulnerable."""
    verdict = Verdict()
    for dependency in report.get("dependencies", []):
        name = f"{dependency.get('name')} {dependency.get('version', '')}".strip()
        if "skip_reason" in dependency:
            verdict.skipped.append(name)
            continue
        verdict.checked.append(name)
        for vulnerability in dependency.get("vulns") or []:
            fixes = vulnerability.get("fix_versions") or []
            line = f"{name}: {vulnerability.get('id')}"
            if fixes:
                verdict.fixable.append(f"{line} (fixed in {', '.join(fixes)})")
            else:
                verdict.unfixed.append(f"{line} (no fixed version yet)")
    return verdict


def exit_code(verdict: Verdict, strict: bool) -> int:
    if verdict.fixable:
        return 1
    if verdict.nothing_checked and strict:
        return 2
    return 0


def describe(verdict: Verdict) -> List[str]:
    lines = [f"VULNERABLE, a fix exists: {line}" for line in verdict.fixable]
    lines += [f"vulnerable, no fix yet (not failing): {line}" for line in verdict.unfixed]
    total = len(verdict.checked) + len(verdict.skipped)
    if verdict.nothing_checked:
        lines.append(
            f"audit: NOT CHECKED: no advisory database could be reached, 0 of {total} packages audited "
            "(pip-audit alone would say 'No known vulnerabilities found')"
        )
    else:
        if verdict.skipped:
            lines.append(f"not audited ({len(verdict.skipped)}): {', '.join(verdict.skipped)}")
        lines.append(
            f"audit: {len(verdict.checked)} of {total} packages checked, "
            f"{len(verdict.fixable)} with a fixable vulnerability, {len(verdict.unfixed)} without a fix yet"
        )
    return lines


def run_pip_audit(pip_audit: str, requirements: Path) -> Dict[str, Any]:
    completed = subprocess.run(
        [
            pip_audit,
            "-r",
            str(requirements),
            "--no-deps",
            "--disable-pip",
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--timeout",
            "20",
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    try:
        return json.loads(completed.stdout)
    except ValueError:
        # No JSON: pip-audit itself failed (e.g. the OSV service unreachable raises).
        tail = (completed.stderr or "").strip().splitlines()[-1:] or ["no output"]
        print(f"pip-audit failed: {tail[0]}", file=sys.stderr)
        return {"dependencies": []}


def main(argv: List[str] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("requirements", type=Path)
    parser.add_argument("--strict", action="store_true", help="fail (exit 2) when nothing could be checked")
    parser.add_argument("--pip-audit", default=".venv-audit/bin/pip-audit")
    parser.add_argument("--report", type=Path, help="a saved pip-audit JSON report to read instead")
    args = parser.parse_args(argv)
    report = json.loads(args.report.read_text()) if args.report else run_pip_audit(args.pip_audit, args.requirements)
    verdict = read_report(report)
    for line in describe(verdict):
        print(line)
    return exit_code(verdict, args.strict)


if __name__ == "__main__":
    sys.exit(main())
