from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="Record",
            fields=[
                ("id", models.CharField(max_length=64, primary_key=True, serialize=False)),
                ("owner", models.CharField(max_length=64, null=True)),
                ("data", models.JSONField(default=dict)),
                ("version", models.IntegerField(default=1)),
                ("created_at", models.DateTimeField()),
                ("updated_at", models.DateTimeField()),
            ],
        ),
    ]
