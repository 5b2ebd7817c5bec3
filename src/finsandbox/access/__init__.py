"""Access: institutions, users, roles, password and key hashing."""

from finsandbox.access.keys import (
    NewKey,
    authenticate,
    create_key,
    get_key,
    key_prefix,
    key_state,
    list_keys,
    revoke_key,
)
from finsandbox.access.users import (
    check_login,
    create_institution,
    create_user,
    get_institution,
    get_user,
    list_institutions,
    list_users,
)

__all__ = [
    "NewKey",
    "authenticate",
    "check_login",
    "create_institution",
    "create_key",
    "create_user",
    "get_institution",
    "get_key",
    "get_user",
    "key_prefix",
    "key_state",
    "list_institutions",
    "list_keys",
    "list_users",
    "revoke_key",
]
