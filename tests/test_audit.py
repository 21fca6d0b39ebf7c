"""tools/audit.py: how a pip-audit JSON report becomes a verdict (pip-audit itself is run by `make audit`)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tools.audit import describe, exit_code, read_report

pytestmark = pytest.mark.unit

SKIPPED = {"name": "sanic", "skip_reason": "Dependency not found on PyPI and could not be audited: sanic (21.12.2)"}
CLEAN = {"name": "rasa", "version": "3.6.21", "vulns": []}
FIXABLE = {
    "name": "jinja2",
    "version": "3.1.2",
    "vulns": [
        {"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "aliases": ["CVE-2024-22195"], "description": "..."},
    ],
}
UNFIXED = {"name": "somepkg", "version": "1.0", "vulns": [{"id": "PYSEC-2099-1", "fix_versions": []}]}


def test_a_vulnerability_with_a_fix_fails_the_audit():
    verdict = read_report({"dependencies": [CLEAN, FIXABLE, SKIPPED]})
    assert exit_code(verdict, strict=False) == 1
    lines = describe(verdict)
    assert "VULNERABLE, a fix exists: jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (fixed in 3.1.3)" in lines
    assert lines[-1] == "audit: 2 of 3 packages checked, 1 with a fixable vulnerability, 0 without a fix yet"
    assert any(line.startswith("not audited (1): sanic") for line in lines)


def test_a_vulnerability_without_a_fix_is_shown_but_does_not_fail():
    verdict = read_report({"dependencies": [CLEAN, UNFIXED]})
    assert exit_code(verdict, strict=True) == 0
    assert "vulnerable, no fix yet (not failing): somepkg 1.0: PYSEC-2099-1 (no fixed version yet)" in describe(verdict)


def test_nothing_reachable_is_never_reported_as_clean():
    """What pip-audit reports here (no advisory database reachable), while itself saying
    'No known vulnerabilities found'."""
    verdict = read_report({"dependencies": [SKIPPED, dict(SKIPPED, name="rasa")], "fixes": []})
    assert verdict.nothing_checked
    assert describe(verdict)[-1].startswith("audit: NOT CHECKED: no advisory database could be reached, 0 of 2")
    assert exit_code(verdict, strict=False) == 0 and exit_code(verdict, strict=True) == 2


def test_the_command_line_reads_a_saved_report(tmp_path, root):
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"dependencies": [FIXABLE]}))
    run = subprocess.run(
        [sys.executable, "tools/audit.py", "--report", str(report), "requirements.txt"],
        cwd=root,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 1 and "GHSA-h5c8-rqwp-cp95" in run.stdout
