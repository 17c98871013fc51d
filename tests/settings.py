"""Settings for the test suite: the project's settings plus test-only apps.

The database, Redis and storage come from the environment exactly as in production
(`DATABASE_URL`, `REDIS_URL`, `STORAGE_URL`), so one suite runs on the embedded default and on
the production stack.
"""

import os
import tempfile

os.environ.setdefault("BAAS_DATA_DIR", tempfile.mkdtemp(prefix="baas-test-"))

from pathlib import Path

from baas.settings import DATABASES

if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file, not SQLite's shared in-memory database: that one uses table locks that ignore the
    # busy timeout, so tests with concurrent writers would fail where a real deployment does not.
    DATABASES["default"]["TEST"] = {"NAME": str(Path(os.environ["BAAS_DATA_DIR"]) / "test.sqlite3")}

from baas.settings import *  # noqa: F403
from baas.settings import INSTALLED_APPS

# Test-only models (e.g. for the rules language's SQL compiler) live in apps under tests/.
INSTALLED_APPS = [*INSTALLED_APPS, "tests.rules_testapp"]

# Auth emails inline after commit, so that tests read them from Django's locmem outbox; the queue
# path is tested against real processes (tests/auth/test_email_delivery.py).
AUTH_EMAIL_IN_BACKGROUND = False
