"""A bundle whose paths collide (a file and a folder of one name, the same file twice after
normalisation or in another case) is a 400 `validation_error` naming the paths — never a 500, and
nothing is deployed. Bad single paths (absolute, empty, `..`) stay refused."""

from __future__ import annotations

import io
import tarfile
import warnings
import zipfile

import pytest

from tests.functions.conftest import HELLO, deploy

pytestmark = pytest.mark.slow  # deploys functions: each deploy starts a sandbox (tests/process_level.py)

MAIN = HELLO.encode()


def _zip(entries: list[tuple[str, bytes | None]]) -> io.BytesIO:
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about duplicate names: that is the point
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, content in entries:
                if content is None:
                    archive.writestr(zipfile.ZipInfo(name if name.endswith("/") else name + "/"), b"")
                else:
                    archive.writestr(zipfile.ZipInfo(name), content)
    buffer.seek(0)
    buffer.name = "bundle.zip"
    return buffer


def _tar(entries: list[tuple[str, bytes | None]]) -> io.BytesIO:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, content in entries:
            info = tarfile.TarInfo(name)
            if content is None:
                info.type = tarfile.DIRTYPE
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    buffer.seek(0)
    buffer.name = "bundle.tar.gz"
    return buffer


COLLIDING = [
    pytest.param([("main.py", MAIN), ("x", b"1"), ("x/y.py", b"2")], ("x", "x/y.py"), id="file-and-folder"),
    pytest.param([("main.py", MAIN), ("x/y.py", b"2"), ("x", b"1")], ("x", "x/y.py"), id="folder-then-file"),
    pytest.param([("main.py", MAIN), ("x/", None), ("x", b"1")], ("x", "x/"), id="folder-entry-and-file"),
    pytest.param(
        [("main.py", MAIN), ("lib/Util.py", b"1"), ("lib/util.py", b"2")], ("lib/Util.py", "lib/util.py"), id="case"
    ),
    pytest.param([("main.py", MAIN), ("./main.py", b"2")], ("main.py",), id="dot-slash-duplicate"),
    pytest.param([("main.py", MAIN), ("main.py", b"2")], ("main.py",), id="duplicate"),
    pytest.param([("main.py", MAIN), ("A", b"1"), ("a/b.py", b"2")], ("A", "a/b.py"), id="file-and-folder-by-case"),
]


@pytest.mark.parametrize("pack", [_zip, _tar], ids=["zip", "tar"])
@pytest.mark.parametrize(("entries", "named"), COLLIDING)
def test_colliding_archive_paths_are_a_400_naming_them(service_api, pack, entries, named) -> None:  # type: ignore[no-untyped-def]
    response = service_api.post("/v1/functions", {"name": "clash", "bundle": pack(entries)}, format="multipart")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    problem = error["details"]["files"][0]
    assert problem["code"] == "conflict"
    for path in named:
        assert path in problem["paths"]
    assert service_api.get("/v1/functions/clash").status_code == 404


@pytest.mark.parametrize(
    "files",
    [
        {"main.py": HELLO, "x": "1", "x/y.py": "2"},
        {"main.py": HELLO, "./main.py": "2"},
        {"main.py": HELLO, "Lib.py": "1", "lib.py": "2"},
    ],
    ids=["file-and-folder", "dot-slash-duplicate", "case"],
)
def test_colliding_json_paths_are_a_400(service_api, files) -> None:  # type: ignore[no-untyped-def]
    response = deploy(service_api, "clash", "", files=files)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["details"]["files"][0]["code"] == "conflict"


@pytest.mark.parametrize("bad", ["/abs.py", "", "../up.py", "a/./b.py", "a//b.py", "a\\b.py"])
def test_bad_single_paths_stay_refused(service_api, bad: str) -> None:
    response = service_api.post(
        "/v1/functions", {"name": "bad", "bundle": _zip([("main.py", MAIN), (bad, b"1")])}, format="multipart"
    )
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_error"


def test_a_tar_of_a_folder_with_its_dot_entry_still_deploys(service_api) -> None:
    bundle = _tar([(".", None), ("./lib", None), ("./main.py", MAIN), ("./lib/util.py", b"X = 1\n")])
    response = service_api.post("/v1/functions", {"name": "dotted", "bundle": bundle}, format="multipart")
    assert response.status_code == 201, response.content
    assert response.json()["files"] == ["lib/util.py", "main.py"]
