"""`make audit`: the installed packages against PyPI's vulnerability feed (pip-audit).

pip-audit asks PyPI's per-release JSON API about each installed distribution. A package it
could not check is *skipped*, and pip-audit then still prints "No known vulnerabilities found":
a mirror or proxy that serves only the package index (as on the team's build machines, where
that API answers 404) would make every run look clean while auditing nothing. This wrapper
therefore reads pip-audit's JSON and says what it really did:

* a known vulnerability fails (exit 1), unless its id is in ACCEPTED below with a reason;
* packages that could not be audited are listed under a loud NOT AUDITED banner; they fail
  the run only with PORTAL_AUDIT_STRICT=1 (set it where PyPI's API is reachable, so a broken
  feed cannot pass silently there);
* pip-audit itself failing (no network at all) fails the run, except without strict mode,
  where it is reported the same way as unaudited packages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

# Vulnerability ids we knowingly accept, each with the reason. Empty: nothing is accepted.
ACCEPTED: dict[str, str] = {}


def main() -> int:
    strict = os.environ.get("PORTAL_AUDIT_STRICT", "") in ("1", "true", "yes")
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--progress-spinner",
        "off",
        "--skip-editable",  # the portal itself: not a published distribution
        "--format",
        "json",
        *(arg for vuln in ACCEPTED for arg in ("--ignore-vuln", vuln)),
    ]
    # A fixed argv run with this interpreter, no shell: nothing here comes from outside.
    result = subprocess.run(  # noqa: S603
        command, capture_output=True, text=True, check=False
    )
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        print("pip-audit did not run: " + (result.stderr.strip() or "no output"), file=sys.stderr)
        print("NOT AUDITED: the vulnerability feed could not be reached.", file=sys.stderr)
        return 1 if strict else 0

    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    skipped = [d for d in dependencies if "skip_reason" in d and d["name"] != "accessportal"]
    audited = len(dependencies) - len(skipped) - 1
    for dependency in vulnerable:
        for vuln in dependency["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions") or []) or "no fixed release"
            print(
                f"VULNERABLE {dependency['name']} {dependency['version']}: {vuln['id']} "
                f"(fixed in {fixed})",
                file=sys.stderr,
            )
    if skipped:
        print(
            f"NOT AUDITED: {len(skipped)} of {len(dependencies) - 1} installed packages could "
            "not be checked (the per-release JSON API is unreachable or incomplete here). First: "
            f"{skipped[0]['skip_reason']}",
            file=sys.stderr,
        )
    print(f"pip-audit: {audited} packages audited, {len(vulnerable)} with known vulnerabilities.")
    if vulnerable:
        return 1
    return 1 if skipped and strict else 0


if __name__ == "__main__":
    sys.exit(main())
