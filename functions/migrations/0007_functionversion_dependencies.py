from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("functions", "0006_invocation_cold_start"),
    ]

    operations = [
        migrations.AddField(
            model_name="functionversion",
            name="dependencies",
            field=models.BinaryField(blank=True, default=b""),
        ),
    ]
