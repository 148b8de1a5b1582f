"""Audit the pinned dependencies for known vulnerabilities with pip-audit.

Exit status: 0 when every package was checked and none has a known vulnerability; 1 when a
vulnerability is known or a package could not be checked; 2 when pip-audit could not run or
reached no advisory data at all (nothing was checked), so CI can tell "not audited here" from
"audited, failed".

Usage: python scripts/audit.py PIP_AUDIT requirements.txt [more requirement files]
"""

import json
import subprocess
import sys
from datetime import date

UNREACHABLE = 2


def audit(pip_audit: str, requirement_files: list[str]) -> int:
    args = [pip_audit, "--progress-spinner", "off", "--format", "json"]
    for path in requirement_files:
        args += ["--requirement", path]
    result = subprocess.run(args, capture_output=True, text=True, check=False)
    try:
        report = json.loads(result.stdout)
    except json.JSONDecodeError:
        print(f"pip-audit could not run (no advisory service answered?):\n{result.stderr}")
        return UNREACHABLE

    packages = report["dependencies"]
    skipped = [p for p in packages if "skip_reason" in p]
    vulnerable = [p for p in packages if p.get("vulns")]
    checked = len(packages) - len(skipped)
    print(
        f"{date.today()}: {checked} of {len(packages)} packages checked, "
        f"{len(vulnerable)} with a known vulnerability"
    )
    for package in vulnerable:
        for vuln in package["vulns"]:
            fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed release"
            print(f"  {package['name']} {package['version']}: {vuln['id']} (fixed in {fixed})")
    if checked == 0:
        print("No advisory data could be reached from this machine: nothing was audited.")
        print(f"  for example: {skipped[0]['skip_reason']}" if skipped else "  (no packages)")
        return UNREACHABLE
    for package in skipped:
        print(f"  not checked: {package['skip_reason']}")
    return 1 if vulnerable or skipped else 0


if __name__ == "__main__":
    sys.exit(audit(sys.argv[1], sys.argv[2:]))
