from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("functions", "0004_invocation_function_finished"),
    ]

    operations = [
        migrations.AddField(
            model_name="invocation",
            name="cold_start",
            field=models.BooleanField(blank=True, null=True),
        ),
    ]
