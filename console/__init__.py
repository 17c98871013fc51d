"""The admin web console: server-rendered pages (Django templates + htmx) for operators."""
