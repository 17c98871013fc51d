"""One module per page of the navigation; each has `urlpatterns` (named `<page>` for its index)."""
