"""`selectors.list_folder`: one level of a bucket as folders and objects (the console's browser)."""

from __future__ import annotations

from baas.principals import Principal, service_principal
from storage import selectors, services

SERVICE = service_principal(key_id="tests", name="tests")


def _store(path: str, owner: str | None = None) -> None:
    principal = Principal(kind="user", id=owner, role="user") if owner else SERVICE
    services.write_object(principal=principal, bucket="files", path=path, data=b"x", content_type="text/plain")


def _names(principal: Principal, prefix: str, limit: int = 200) -> tuple[list[str], list[str], bool]:
    folders, objects, more = selectors.list_folder(principal=principal, bucket="files", prefix=prefix, limit=limit)
    return folders, [row["path"] for row in objects], more


def test_a_level_lists_its_folders_once_and_its_own_objects(backend, make_bucket):
    make_bucket("files")
    for path in ("a.txt", "docs/one.txt", "docs/two.txt", "docs/deep/three.txt", "img/x.png", "z.txt", "docs-old.txt"):
        _store(path)
    assert _names(SERVICE, "") == (["docs/", "img/"], ["a.txt", "docs-old.txt", "z.txt"], False)
    assert _names(SERVICE, "docs/") == (["docs/deep/"], ["docs/one.txt", "docs/two.txt"], False)
    assert _names(SERVICE, "docs/deep/") == ([], ["docs/deep/three.txt"], False)
    assert _names(SERVICE, "nothing/") == ([], [], False)


def test_the_limit_counts_folders_and_objects_and_says_more_were_left(backend, make_bucket):
    make_bucket("files")
    for path in ("a/1", "a/2", "b/1", "c", "d", "e"):
        _store(path)
    assert _names(SERVICE, "", limit=3) == (["a/", "b/"], ["c"], True)
    assert _names(SERVICE, "", limit=5) == (["a/", "b/"], ["c", "d", "e"], False)


def test_the_read_rule_hides_what_the_caller_may_not_read(backend, make_bucket):
    make_bucket("files", rules={"read": "$owner == auth.id", "create": "auth != null"})
    _store("mine/1.txt", owner="u1")
    _store("theirs/1.txt", owner="u2")
    _store("top.txt", owner="u1")
    user = Principal(kind="user", id="u1", role="user")
    assert _names(user, "") == (["mine/"], ["top.txt"], False)
    staff = Principal(kind="staff", id="s1", role="staff")
    assert _names(staff, "")[0] == ["mine/", "theirs/"]
