from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("functions", "0004_invocation_function_finished"),
    ]

    operations = [
        migrations.AddField(
            model_name="functionversion",
            name="runtime",
            field=models.CharField(
                choices=[("python", "python"), ("deno", "deno")], default="python", max_length=10
            ),
        ),
    ]
