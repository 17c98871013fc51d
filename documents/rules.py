"""The rules of a collection, declared once (`baas.rules.resource.ResourceRules`).

Services check one document with `COLLECTION_RULES.allows(collection.rules, op, …)`, selectors
restrict listings with `.read_filter(…)`, realtime fans out with `.read_predicate(…)` (through
`services.read_rule_predicate`), and a collection's rules are checked at save time with
`.validate(…)`, which stores every operation (absent ones as None, as the API always showed them).
"""

from __future__ import annotations

from baas.rules.ast import DOCUMENT_FIELDS
from baas.rules.resource import ResourceRules

# Own fields of a document (`$id`, `$owner`, …) → columns of documents_document, for the SQL
# compilation of read rules and `?filter=`.
OWN_COLUMNS = {
    "id": "key",
    "owner": "owner",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "version": "version",
}

COLLECTION_RULES = ResourceRules("collection", own_fields=DOCUMENT_FIELDS, own_columns=OWN_COLUMNS)
