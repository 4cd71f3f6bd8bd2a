"""Masking personal data for display: 张*, 138****1234, ID 6 + **** + 4.

Everything that leaves the data layer for a page, an export or the API passes through
:func:`mask_person`/the single-field functions unless the actor revealed it (audited).
"""

from __future__ import annotations

from typing import Any

PERSONAL_FIELDS = ("name", "phone", "id_number")


def mask_name(name: str | None) -> str | None:
    """Keep the first character (the family name): 张三 → 张*, 欧阳娜娜 → 欧***."""
    if not name:
        return name
    name = name.strip()
    if len(name) <= 1:
        return "*"
    return name[0] + "*" * (len(name) - 1)


def mask_phone(phone: str | None) -> str | None:
    """Keep the first 3 and last 4 digits of an 11-digit mobile: 138****1234; shorter numbers
    keep only their last 2."""
    if not phone:
        return phone
    digits = "".join(c for c in phone if c.isdigit())
    if len(digits) >= 11:
        return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
    if len(digits) > 2:
        return "*" * (len(digits) - 2) + digits[-2:]
    return "*" * len(digits)


def mask_id_number(value: str | None) -> str | None:
    """Resident ID: the first 6 (region) and last 4 characters, ``6+****+4``."""
    if not value:
        return value
    value = value.strip()
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


MASKS = {"name": mask_name, "phone": mask_phone, "id_number": mask_id_number}


def mask_person(record: dict[str, Any], prefix: str = "", *, hide_names: bool = False
                ) -> dict[str, Any]:
    """A copy of ``record`` with ``<prefix>name``, ``<prefix>phone`` and
    ``<prefix>id_number`` masked; ``hide_names`` (the wall's privacy mode) drops names."""
    out = dict(record)
    for field, mask in MASKS.items():
        key = prefix + field
        if key in out and out[key] is not None:
            out[key] = None if hide_names and field == "name" else mask(str(out[key]))
    return out
