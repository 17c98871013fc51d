from django.db import migrations, models

# On PostgreSQL the database itself refuses to change or remove an audit entry, whatever code or
# SQL tries (TRUNCATE, which a test run's flush uses, fires no row trigger).
APPEND_ONLY_SQL = """
CREATE OR REPLACE FUNCTION baas_audit_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only: UPDATE and DELETE are refused';
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER baas_audit_append_only BEFORE UPDATE OR DELETE ON baas_auditentry
    FOR EACH ROW EXECUTE FUNCTION baas_audit_append_only();
"""
DROP_SQL = """
DROP TRIGGER IF EXISTS baas_audit_append_only ON baas_auditentry;
DROP FUNCTION IF EXISTS baas_audit_append_only();
"""


def refuse_changes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(APPEND_ONLY_SQL)


def allow_changes(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP_SQL)


class Migration(migrations.Migration):
    dependencies = [
        ("baas", "0002_idempotency_key"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditEntry",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("at", models.DateTimeField(auto_now_add=True)),
                ("actor_kind", models.CharField(max_length=16)),
                ("actor_id", models.CharField(default="", max_length=200)),
                ("actor_email", models.CharField(default="", max_length=254)),
                ("action", models.CharField(max_length=100)),
                ("target", models.CharField(max_length=1100)),
                ("before", models.JSONField(null=True)),
                ("after", models.JSONField(null=True)),
                ("request_id", models.CharField(default="", max_length=100)),
            ],
            options={
                "indexes": [
                    models.Index(fields=["action", "id"], name="baas_audit_action_idx"),
                    models.Index(fields=["target", "id"], name="baas_audit_target_idx"),
                    models.Index(fields=["actor_id", "id"], name="baas_audit_actor_idx"),
                    models.Index(fields=["at"], name="baas_audit_at_idx"),
                ],
            },
        ),
        migrations.RunPython(refuse_changes, allow_changes),
    ]
