"""An unknown field in a functions body is refused the one way every body refuses one (baas.errors
`refuse_unknown_fields`): 400 `validation_error`, one `unknown_field` entry per stray key, nothing
written — in a JSON deploy, a bundle's `config`, a rollback and an invoke."""

from __future__ import annotations

import io
import json
import zipfile

import pytest

from tests.functions.conftest import HELLO, deploy


def _unknown(response, *fields: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert sorted(error["details"]) == sorted(fields)
    for field in fields:
        (entry,) = error["details"][field]
        assert entry["code"] == "unknown_field" and entry["message"]


def test_a_json_deploy_with_unknown_fields_is_refused_before_anything_runs(service_api) -> None:  # type: ignore[no-untyped-def]
    from functions.models import Function

    _unknown(deploy(service_api, "typo", HELLO, timout=5, memroy=128), "timout", "memroy")
    assert not Function.objects.filter(name="typo").exists()


def test_a_bundle_config_with_unknown_fields_is_refused(service_api) -> None:  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("main.py", HELLO)
    buffer.seek(0)
    buffer.name = "bundle.zip"
    config = json.dumps({"name": "zipped", "retries": 3})
    response = service_api.post("/v1/functions", {"config": config, "bundle": buffer}, format="multipart")
    _unknown(response, "retries")


def test_a_deploy_field_with_a_bad_value_names_the_field(service_api) -> None:  # type: ignore[no-untyped-def]
    response = deploy(service_api, "bad", HELLO, timeout="soon")
    assert response.status_code == 400
    (entry,) = response.json()["error"]["details"]["timeout"]
    assert entry["code"] == "invalid" and "whole number" in entry["message"]


@pytest.mark.slow  # deploys a function: its load check starts a sandbox
def test_rollback_and_invoke_refuse_unknown_fields(service_api) -> None:  # type: ignore[no-untyped-def]
    assert deploy(service_api, "steady", HELLO).status_code == 201
    _unknown(service_api.post("/v1/functions/steady/rollback", {"version": 1, "force": True}, format="json"), "force")
    _unknown(service_api.post("/v1/functions/steady/invoke", {"data": 1}, format="json"), "data")
    from functions.models import Invocation

    assert not Invocation.objects.exists()


@pytest.mark.slow  # deploys a function: its load check starts a sandbox
def test_a_body_that_is_not_an_object_is_invalid_request(service_api) -> None:  # type: ignore[no-untyped-def]
    assert deploy(service_api, "steady", HELLO).status_code == 201
    for path in ("/v1/functions", "/v1/functions/steady/rollback", "/v1/functions/steady/invoke"):
        response = service_api.post(path, [1, 2], format="json")
        assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_request", path
