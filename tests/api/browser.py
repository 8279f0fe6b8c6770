"""
A real headless browser for the API tests: Debian's chromium driven by npm's
playwright-core (tests/browser/drive.js, the version pinned in
tests/browser/package.json and its lockfile).

`npm ci` runs once, when tests/browser/node_modules is missing (the network
is needed that first time only); scripts/bootstrap installs chromium, node
and npm.

drive(mode, url, *args) runs drive.js and returns its JSON report.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

BROWSER_DIR = Path(__file__).resolve().parents[1] / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def ensure_installed():
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed (scripts/bootstrap installs them)", pytrace=False)
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing (scripts/bootstrap installs chromium)", pytrace=False)
    if (BROWSER_DIR / "node_modules" / "playwright-core" / "package.json").is_file():
        return
    r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=BROWSER_DIR,
                       capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        pytest.fail(f"npm ci in tests/browser failed:\n{r.stderr[-2000:]}", pytrace=False)


def drive(mode, url, *args, timeout=90):
    ensure_installed()
    env = dict(os.environ, CHROMIUM=CHROMIUM)
    r = subprocess.run(["node", "drive.js", mode, url, *args], cwd=BROWSER_DIR, env=env,
                       capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, r.stderr[-4000:]
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert "error" not in report, report
    return report
