"""Kernel signals that services send and other apps connect to, without importing their models.

Every signal is sent with `sender="auth"` (a string, so receivers need no import of the sender)
and keyword arguments of plain types only:

- `user_created(user_id: str, anonymous: bool)` — a user was created (signup, anonymous sign-in,
  admin create).
- `user_deleted(user_id: str)` — a user was deleted (admin delete). The row is gone when it fires.

Both are sent inside the transaction that wrote the change, so a receiver's own database writes
commit or roll back with it. A receiver with effects outside the database (mail, HTTP, caches)
must defer them with `transaction.on_commit`.
"""

from __future__ import annotations

from django.dispatch import Signal

AUTH_SENDER = "auth"

user_created = Signal()
user_deleted = Signal()
