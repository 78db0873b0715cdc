"""Public ids: a short type prefix and a ULID (time-sortable, 80 random bits, unguessable)."""

import os
import time
from typing import Any

from django.db import models
from ulid import ULID


def public_id_new(prefix: str) -> str:
    # Fresh randomness every time: python-ulid's monotonic mode would make two ids of the same
    # millisecond differ by one, so one id would reveal its neighbours.
    stamp = int(time.time() * 1000).to_bytes(6, "big")
    return f"{prefix}_{str(ULID.from_bytes(stamp + os.urandom(10))).lower()}"


class PublicIdField(models.CharField):
    """A unique, indexed `prefix_<ulid>` column filled on insert (also by bulk_create)."""

    def __init__(self, *args: Any, prefix: str = "", **kwargs: Any) -> None:
        self.prefix = prefix
        kwargs.setdefault("max_length", len(prefix) + 27)
        kwargs.setdefault("unique", True)
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        kwargs["prefix"] = self.prefix
        return name, path, args, kwargs

    def pre_save(self, model_instance: models.Model, add: bool) -> str:
        value = getattr(model_instance, self.attname)
        if not value:
            value = public_id_new(self.prefix)
            setattr(model_instance, self.attname, value)
        return str(value)
