"""baas client for Python: blocking (`create_client`) and asyncio (`create_async_client`)."""

from .auth import FileStorage, MemoryStorage, Session, SessionStorage, User
from .client import AsyncClient, Client, create_async_client, create_client
from .db import Document, Page
from .errors import BaasError
from .filter import filter, literal
from .realtime import Change, Member
from .storage import ObjectInfo

__all__ = [
    "AsyncClient",
    "BaasError",
    "Change",
    "Client",
    "Document",
    "FileStorage",
    "Member",
    "MemoryStorage",
    "ObjectInfo",
    "Page",
    "Session",
    "SessionStorage",
    "User",
    "create_async_client",
    "create_client",
    "filter",
    "literal",
]
