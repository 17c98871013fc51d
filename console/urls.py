"""The console's pages, one module per navigation entry under `console/pages/`."""

from django.urls import include, path

from console import signin, two_factor
from console.pages import overview

app_name = "console"

urlpatterns = [
    path("", overview.page, name="overview"),
    path("sign-in", signin.sign_in, name="sign-in"),
    path("sign-out", signin.sign_out, name="sign-out"),
    path("sign-in/code", signin.sign_in_code, name="sign-in-code"),
    path("two-factor", two_factor.page, name="two-factor"),
    path("users/", include("console.pages.users")),
    path("collections/", include("console.pages.collections")),
    path("storage/", include("console.pages.storage")),
    path("functions/", include("console.pages.functions")),
    path("realtime/", include("console.pages.realtime")),
    path("keys/", include("console.pages.keys")),
    path("audit/", include("console.pages.audit")),
]
