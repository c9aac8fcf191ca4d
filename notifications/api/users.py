"""The signed-in user of an API request, for views that let only signed-in users through."""

from __future__ import annotations

from django.contrib.auth.base_user import AbstractBaseUser
from rest_framework.exceptions import NotAuthenticated
from rest_framework.request import Request


def signed_in(request: Request) -> AbstractBaseUser:
    """Return the user of a view that requires one (``IsAuthenticated``): a 401 otherwise,
    should a view forget its permission."""
    if not isinstance(request.user, AbstractBaseUser):
        raise NotAuthenticated()
    return request.user


def user_id(request: Request) -> int:
    """Return the id of :func:`signed_in`'s user."""
    pk: int = signed_in(request).pk
    return pk
