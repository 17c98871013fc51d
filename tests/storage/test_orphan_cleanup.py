"""Nothing left behind: bytes whose transaction failed are removed at once, and whatever a crash
leaves is removed by the sweep; retired bytes of overwritten and deleted objects go too."""

from __future__ import annotations

from datetime import timedelta

import pytest

from baas.models import Event
from baas.principals import service_principal
from storage import services, tasks
from storage.backends import blob_store
from storage.models import BlobJournal, StoredObject

SERVICE = service_principal(key_id="tests", name="tests")


def _write(path: str = "a.txt", data: bytes = b"payload") -> dict:
    return services.write_object(principal=SERVICE, bucket="files", path=path, data=data, content_type="text/plain")


class Boom(Exception):
    pass


def _fail(*_args: object, **_kwargs: object) -> None:
    raise Boom("the event log is down")


def _fail_events(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every way of recording an event fails: in a write transaction (`append`) and in the one
    statement of a create on PostgreSQL outside a transaction (`append_with_write`)."""
    monkeypatch.setattr(services.events, "append", _fail)
    monkeypatch.setattr(services.events, "append_with_write", _fail)


def test_bytes_of_a_failed_transaction_are_removed_at_once(backend, make_bucket, monkeypatch):
    make_bucket("files")
    monkeypatch.setattr(services.events, "append", _fail)
    with pytest.raises(Boom):
        _write()
    assert backend.keys() == []
    assert not StoredObject.objects.exists()
    assert not BlobJournal.objects.exists()


def test_a_failed_overwrite_keeps_the_old_object_and_its_bytes(backend, make_bucket, monkeypatch):
    make_bucket("files")
    before = _write(data=b"old")
    monkeypatch.setattr(services.events, "append", _fail)
    with pytest.raises(Boom):
        _write(data=b"new")
    assert len(backend.keys()) == 1
    assert services.read_object(principal=SERVICE, bucket="files", path="a.txt") == b"old"
    assert StoredObject.objects.get().etag == before["etag"]


def test_the_sweep_removes_bytes_left_by_a_crash_between_write_and_commit(backend, make_bucket, monkeypatch):
    make_bucket("files")
    monkeypatch.setattr(services.events, "append", _fail)
    monkeypatch.setattr(services, "_discard_blob", lambda key: None)  # the process "died" here
    with pytest.raises(Boom):
        _write()
    assert len(backend.keys()) == 1
    assert BlobJournal.objects.get().reason == BlobJournal.UPLOADING
    # Within the grace period it might still be an upload in flight: left alone.
    assert services.sweep_orphan_blobs() == 0
    assert len(backend.keys()) == 1
    assert services.sweep_orphan_blobs(grace=timedelta(0)) == 1
    assert backend.keys() == []
    assert not BlobJournal.objects.exists()


def test_the_bytes_of_an_overwritten_object_are_removed_after_commit(
    backend, make_bucket, django_capture_on_commit_callbacks
):
    make_bucket("files")
    _write(data=b"v1")
    with django_capture_on_commit_callbacks(execute=True):
        _write(data=b"v2")
    assert backend.keys() == [StoredObject.objects.get().key]
    assert not BlobJournal.objects.exists()


def test_the_bytes_of_a_deleted_object_are_removed_after_commit(
    backend, make_bucket, django_capture_on_commit_callbacks
):
    make_bucket("files")
    _write()
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_object(principal=SERVICE, bucket="files", path="a.txt")
    assert backend.keys() == []
    assert not BlobJournal.objects.exists()


def test_retired_bytes_that_could_not_be_deleted_are_swept_without_waiting(
    backend, make_bucket, django_capture_on_commit_callbacks, monkeypatch
):
    make_bucket("files")
    _write()
    store = blob_store()

    def unavailable(key: str) -> None:
        raise OSError("backend unavailable")

    monkeypatch.setattr(store, "delete", unavailable)
    with django_capture_on_commit_callbacks(execute=True):
        services.delete_object(principal=SERVICE, bucket="files", path="a.txt")
    assert len(backend.keys()) == 1
    assert BlobJournal.objects.get().reason == BlobJournal.RETIRED
    monkeypatch.undo()
    assert tasks.sweep_orphans() == 1
    assert backend.keys() == []


def test_the_sweep_never_deletes_bytes_an_object_references(backend, make_bucket):
    make_bucket("files")
    meta = _write()
    key = StoredObject.objects.get().key
    BlobJournal.objects.create(key=key, reason=BlobJournal.RETIRED, touched_at=StoredObject.objects.get().updated_at)
    assert services.sweep_orphan_blobs(grace=timedelta(0)) == 0
    assert services.read_object(principal=SERVICE, bucket="files", path="a.txt") == b"payload"
    assert meta["etag"]


def test_an_upload_outliving_the_grace_period_is_not_committed_over_swept_bytes(backend, make_bucket, monkeypatch):
    make_bucket("files")
    real_commit = services._commit_upload

    def sweep_then_commit(*args, **kwargs):  # type: ignore[no-untyped-def]
        services.sweep_orphan_blobs(grace=timedelta(0))
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(services, "_commit_upload", sweep_then_commit)
    from baas.errors import Unavailable

    with pytest.raises(Unavailable):
        _write()
    assert not StoredObject.objects.exists()
    assert backend.keys() == []


@pytest.mark.django_db(transaction=True)
def test_with_real_commits_a_failed_upload_leaves_no_row_and_no_bytes(backend, make_bucket, monkeypatch):
    make_bucket("files")
    _fail_events(monkeypatch)
    with pytest.raises(Boom):
        _write()
    assert backend.keys() == []
    assert not StoredObject.objects.exists()
    assert not BlobJournal.objects.exists()


# --- with real commits: on PostgreSQL a create outside a transaction is one statement (the journal
# row taken, the object's row and its event written: storage/rows.py), the same guarantees hold.


@pytest.mark.django_db(transaction=True)
def test_with_real_commits_a_crash_before_the_commit_leaves_bytes_the_sweep_removes(backend, make_bucket, monkeypatch):
    make_bucket("files")
    _fail_events(monkeypatch)
    monkeypatch.setattr(services, "_discard_blob", lambda key: None)  # the process "died" here
    with pytest.raises(Boom):
        _write()
    assert len(backend.keys()) == 1
    assert BlobJournal.objects.get().reason == BlobJournal.UPLOADING
    assert not StoredObject.objects.exists()
    assert services.sweep_orphan_blobs(grace=timedelta(0)) == 1
    assert backend.keys() == []
    assert not BlobJournal.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_with_real_commits_an_upload_outliving_the_grace_period_is_not_committed(backend, make_bucket, monkeypatch):
    make_bucket("files")
    real_commit = services._commit_upload

    def sweep_then_commit(*args, **kwargs):  # type: ignore[no-untyped-def]
        services.sweep_orphan_blobs(grace=timedelta(0))
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(services, "_commit_upload", sweep_then_commit)
    from baas.errors import Unavailable

    with pytest.raises(Unavailable):
        _write()
    assert not StoredObject.objects.exists()
    assert not Event.objects.filter(topic="storage/files").exists()
    assert backend.keys() == []
    assert not BlobJournal.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_with_real_commits_a_path_created_meanwhile_makes_the_upload_its_update(
    backend, make_bucket, monkeypatch, django_capture_on_commit_callbacks
):
    """The path was free when the upload began; another upload creates it before this one
    commits. The one statement then writes nothing (not even the journal row's removal) and the
    upload commits in a transaction as the update of what the other wrote."""
    make_bucket("files")
    real_commit = services._commit_upload

    def other_upload_first(*args, **kwargs):  # type: ignore[no-untyped-def]
        monkeypatch.setattr(services, "_commit_upload", real_commit)
        _write(data=b"theirs")
        return real_commit(*args, **kwargs)

    monkeypatch.setattr(services, "_commit_upload", other_upload_first)
    with django_capture_on_commit_callbacks(execute=True):
        mine = _write(data=b"mine")
    assert services.read_object(principal=SERVICE, bucket="files", path="a.txt") == b"mine"
    assert StoredObject.objects.get().etag == mine["etag"]
    kinds = list(Event.objects.filter(topic="storage/files").order_by("seq").values_list("kind", flat=True))
    assert kinds == ["created", "updated"]
    assert backend.keys() == [StoredObject.objects.get().key]  # "theirs" retired and removed
    assert not BlobJournal.objects.exists()
