"""`/v1/db/…`: thin views over documents.services."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from auth.bearer_dispatch import UNDECIDED, LeanBearerDispatch
from baas.errors import ApiError, refuse_unknown_fields, require_object
from baas.openapi import PAGE_PARAMETERS, json_body
from baas.pagination import name_position, page
from baas.permissions import ServiceOrStaff
from baas.principals import Principal, principal_of
from documents import services
from documents.api import representations, schemas
from documents.validation import VersionCondition, check_if_match

DOC_TAG = ["documents"]
DOCUMENT = schemas.DOCUMENT


def _body(body: Any, allowed: tuple[str, ...]) -> dict[str, Any]:
    """The JSON object of a request: 400 `invalid_request` unless an object, 400 `validation_error`
    naming every field outside `allowed` (`unknown_field`)."""
    body = require_object(body)
    refuse_unknown_fields(body, allowed)
    return body


def _document_response(doc: dict[str, Any], status: int = 200) -> Response:
    response = Response(doc, status=status)
    response["ETag"] = f'"{doc["version"]}"'
    return response


def _if_match(request: Any) -> VersionCondition | None:
    return check_if_match(request.headers.get("If-Match"))


# --- the document operations, shared by the DRF methods and the lean bearer path (documents/api/lean.py)
# Each takes the caller, the request (headers, query) and the parsed JSON body, and answers
# (status, body, document or None): the document's version becomes the ETag.

Answer = tuple[int, Any, dict[str, Any] | None]


def _page_query(request: Any) -> dict[str, Any]:
    """A list's query parameters, as the services take them."""
    params = request.GET
    return {name: params.get(name) for name in ("filter", "order", "limit", "cursor")}


def list_documents(principal: Principal, request: Any, collection: str, body: Any = None) -> Answer:
    page = services.list_documents(principal=principal, collection=collection, **_page_query(request))
    return 200, page, None


def list_documents_checking_key(key_check: Any, request: Any, collection: str) -> Answer | None:
    """A bearer list whose credential check runs in the page's statement (one round trip) when this
    process knows the principal; UNDECIDED otherwise (`list_documents` after the check)."""
    found = services.list_documents_checking_key(key_check=key_check, collection=collection, **_page_query(request))
    return UNDECIDED if found is None else (200, found, None)


def count_documents(principal: Principal, request: Any, collection: str, body: Any = None) -> Answer:
    count = services.count_documents(principal=principal, collection=collection, filter=request.GET.get("filter"))
    return 200, {"count": count}, None


def count_documents_checking_key(key_check: Any, request: Any, collection: str) -> Answer | None:
    """A bearer count checking its credential in its own statement, as `list_documents_checking_key`."""
    count = services.count_documents_checking_key(
        key_check=key_check, collection=collection, filter=request.GET.get("filter")
    )
    return UNDECIDED if count is None else (200, {"count": count}, None)


def create_document(principal: Principal, request: Any, collection: str, body: Any) -> Answer:
    body = _body(body, ("data", "id"))
    doc = services.create_document(
        principal=principal, collection=collection, data=body.get("data"), doc_id=body.get("id")
    )
    return 201, doc, doc


def create_document_checking_key(key_check: Any, request: Any, collection: str, body: Any) -> Answer | None:
    """A bearer create whose credential check runs in the insert's statement (one round trip) when
    this process knows the principal; UNDECIDED otherwise (`create_document` after the check)."""
    try:
        fields = _body(body, ("data", "id"))
    except ApiError:
        return UNDECIDED  # told after the credential's check, as on the principal's path
    doc = services.create_document_checking_key(
        key_check=key_check, collection=collection, data=fields.get("data"), doc_id=fields.get("id")
    )
    return UNDECIDED if doc is None else (201, doc, doc)


def get_document(principal: Principal, request: Any, collection: str, doc_id: str, body: Any = None) -> Answer:
    doc = services.get_document(principal=principal, collection=collection, doc_id=doc_id)
    return 200, doc, doc


def get_document_checking_key(key_check: Any, request: Any, collection: str, doc_id: str) -> Answer | None:
    doc = services.get_document_checking_key(key_check=key_check, collection=collection, doc_id=doc_id)
    return None if doc is None else (200, doc, doc)


def replace_document(principal: Principal, request: Any, collection: str, doc_id: str, body: Any) -> Answer:
    body = _body(body, ("data",))
    doc, created = services.set_document(
        principal=principal,
        collection=collection,
        doc_id=doc_id,
        data=body.get("data"),
        if_version=_if_match(request),
    )
    return (201 if created else 200), doc, doc


def patch_document(principal: Principal, request: Any, collection: str, doc_id: str, body: Any) -> Answer:
    body = _body(body, ("data", "ops"))
    doc = services.update_document(
        principal=principal,
        collection=collection,
        doc_id=doc_id,
        data=body.get("data"),
        ops=body.get("ops"),
        if_version=_if_match(request),
    )
    return 200, doc, doc


def delete_document(principal: Principal, request: Any, collection: str, doc_id: str, body: Any = None) -> Answer:
    services.delete_document(principal=principal, collection=collection, doc_id=doc_id, if_version=_if_match(request))
    return 204, None, None


def _drf_answer(answer: Answer) -> Response:
    status, body, doc = answer
    if doc is not None:
        return _document_response(body, status=status)
    return Response(body, status=status)


class CollectionListView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="collections_list",
        summary="List collections",
        parameters=PAGE_PARAMETERS,
        responses={200: schemas.COLLECTION_PAGE},
        tags=["collections"],
    )
    def get(self, request: Request) -> Response:
        limit, after = name_position(request.query_params)
        rows = services.list_collections(after=after, limit=limit + 1)
        return Response(page([representations.collection(row) for row in rows], limit, lambda item: [item["name"]]))

    @extend_schema(
        operation_id="collections_create",
        summary="Create a collection",
        request=json_body(schemas.COLLECTION_CREATE),
        responses={201: schemas.COLLECTION},
        tags=["collections"],
    )
    def post(self, request: Request) -> Response:
        body = _body(request.data, services.COLLECTION_FIELDS)
        created = services.create_collection(
            name=body.get("name"),
            rules=body.get("rules"),
            schema=body.get("schema"),
            index_specs=body.get("indexes"),
            actor=principal_of(request),
        )
        return Response(representations.collection(created), status=201)


class CollectionDetailView(APIView):
    permission_classes = [ServiceOrStaff]

    @extend_schema(
        operation_id="collections_get",
        summary="Get a collection",
        responses={200: schemas.COLLECTION},
        tags=["collections"],
    )
    def get(self, request: Request, name: str) -> Response:
        return Response(representations.collection(services.get_collection(name=name)))

    @extend_schema(
        operation_id="collections_update",
        summary="Change a collection's rules, schema or indexes",
        request=json_body(schemas.COLLECTION_CHANGE),
        responses={200: schemas.COLLECTION},
        tags=["collections"],
    )
    def patch(self, request: Request, name: str) -> Response:
        body = _body(request.data, services.COLLECTION_CHANGE_FIELDS)
        return Response(
            representations.collection(services.update_collection(name=name, changes=body, actor=principal_of(request)))
        )

    @extend_schema(
        operation_id="collections_delete",
        summary="Delete a collection and all its documents",
        responses={204: None},
        tags=["collections"],
    )
    def delete(self, request: Request, name: str) -> Response:
        services.delete_collection(name=name, actor=principal_of(request))
        return Response(status=204)


class DocumentListView(LeanBearerDispatch, APIView):
    lean_methods = {"GET": list_documents, "POST": create_document}
    key_checking_methods = {"GET": list_documents_checking_key, "POST": create_document_checking_key}

    @extend_schema(
        operation_id="documents_list",
        summary="List documents (read rule applied as a filter)",
        parameters=[
            OpenApiParameter("filter", str, description="An expression of the rules language"),
            OpenApiParameter("order", str, description="Fields, e.g. -score,title,$created_at"),
            OpenApiParameter("limit", int),
            OpenApiParameter("cursor", str),
        ],
        responses={200: schemas.DOCUMENT_PAGE},
        tags=DOC_TAG,
    )
    def get(self, request: Request, collection: str) -> Response:
        return _drf_answer(list_documents(principal_of(request), request, collection))

    @extend_schema(
        operation_id="documents_create",
        summary="Create a document",
        request=json_body(schemas.DOCUMENT_CREATE),
        responses={201: DOCUMENT},
        tags=DOC_TAG,
    )
    def post(self, request: Request, collection: str) -> Response:
        return _drf_answer(create_document(principal_of(request), request, collection, request.data))


class DocumentCountView(LeanBearerDispatch, APIView):
    lean_methods = {"GET": count_documents}
    key_checking_methods = {"GET": count_documents_checking_key}

    @extend_schema(
        operation_id="documents_count",
        summary="Count documents (read rule applied)",
        parameters=[OpenApiParameter("filter", str)],
        responses={200: schemas.COUNT},
        tags=DOC_TAG,
    )
    def get(self, request: Request, collection: str) -> Response:
        return _drf_answer(count_documents(principal_of(request), request, collection))


class DocumentDetailView(LeanBearerDispatch, APIView):
    lean_methods = {
        "GET": get_document,
        "PUT": replace_document,
        "PATCH": patch_document,
        "DELETE": delete_document,
    }
    key_checking_methods = {"GET": get_document_checking_key}

    @extend_schema(operation_id="documents_get", summary="Get a document", responses={200: DOCUMENT}, tags=DOC_TAG)
    def get(self, request: Request, collection: str, doc_id: str) -> Response:
        return _drf_answer(get_document(principal_of(request), request, collection, doc_id))

    @extend_schema(
        operation_id="documents_replace",
        summary="Replace a document (or create it)",
        request=json_body(schemas.DOCUMENT_REPLACE),
        responses={200: DOCUMENT, 201: DOCUMENT},
        tags=DOC_TAG,
    )
    def put(self, request: Request, collection: str, doc_id: str) -> Response:
        return _drf_answer(replace_document(principal_of(request), request, collection, doc_id, request.data))

    @extend_schema(
        operation_id="documents_update",
        summary="Merge data and apply atomic ops",
        request=json_body(schemas.DOCUMENT_UPDATE),
        responses={200: DOCUMENT},
        tags=DOC_TAG,
    )
    def patch(self, request: Request, collection: str, doc_id: str) -> Response:
        return _drf_answer(patch_document(principal_of(request), request, collection, doc_id, request.data))

    @extend_schema(operation_id="documents_delete", summary="Delete a document", responses={204: None}, tags=DOC_TAG)
    def delete(self, request: Request, collection: str, doc_id: str) -> Response:
        return _drf_answer(delete_document(principal_of(request), request, collection, doc_id))


class BatchView(APIView):
    @extend_schema(
        operation_id="documents_batch",
        summary="Write several documents, all or nothing",
        request=json_body(schemas.BATCH),
        responses={200: schemas.BATCH_RESULTS},
        tags=DOC_TAG,
    )
    def post(self, request: Request) -> Response:
        body = _body(request.data, ("ops",))
        return Response({"results": services.batch(principal=principal_of(request), ops=body.get("ops"))})
