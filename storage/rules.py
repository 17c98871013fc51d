"""Bucket rules: the one `ResourceRules` declaration of objects in a bucket (baas/rules/resource.py).

Objects are seen by the rules language with own fields `$path $owner $size $content_type
$created_at $updated_at` (`StoredObject.as_rules_doc` builds that shape; the own fields are model
columns of the same names); bare names reach the object's user `metadata`, which is also the
column a listing filters in SQL. A missing rule denies everyone but principals that bypass rules
(service, staff, functions).
"""

from __future__ import annotations

from baas.rules.ast import OBJECT_FIELDS
from baas.rules.resource import ResourceRules

BUCKET_RULES = ResourceRules("bucket", own_fields=OBJECT_FIELDS, data_key="metadata", data_column="metadata")

__all__ = ["BUCKET_RULES"]
