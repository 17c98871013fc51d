"""The migrations match the models and form one line per app: a model change without its migration,
or two branches that each added one (two leaves, which Django refuses to migrate), fails here
instead of on a user's `baas migrate`."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_no_model_change_lacks_its_migration_and_no_app_has_two_leaves() -> None:
    out = StringIO()
    try:
        call_command("makemigrations", "--check", "--dry-run", stdout=out, stderr=out)
    except SystemExit as exited:  # --check exits 1 when a migration is missing
        pytest.fail(f"a model change has no migration:\n{out.getvalue()} (exit {exited.code})")
