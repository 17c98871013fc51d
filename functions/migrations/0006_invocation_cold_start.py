from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("functions", "0005_functionversion_runtime"),
    ]

    operations = [
        migrations.AddField(
            model_name="invocation",
            name="cold_start",
            field=models.BooleanField(blank=True, null=True),
        ),
    ]
