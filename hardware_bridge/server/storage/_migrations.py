"""Numbered schema migrations, recorded in ``schema_migrations`` and applied at start.

Each backend lists its steps in order; step N brings the schema to version N. A database at a
version above the last step was migrated by a newer release, and is refused rather than
written with assumptions that no longer hold.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Migration", "check_known"]


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


def check_known(migrations: tuple[Migration, ...]) -> None:
    """The steps are numbered 1, 2, … without a hole (a programming error otherwise)."""
    for index, migration in enumerate(migrations, start=1):
        if migration.version != index:
            raise AssertionError(f"migration {migration.version} listed at position {index}")
