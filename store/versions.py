"""When a row of ``unit`` was in force — one rule for every "as it was on date D" question
(the planner's time travel and compare, the monthly maps' boundaries as they were).

A row is in force from ``valid_from`` until ``valid_to`` (NULL: still).  But loaders stamp the
rows they write with the load time, which says nothing about when a boundary began: a county
loaded today was there last year too.  So ``valid_from`` counts only for rows a planner save
added (listed in ``unit_change.added_ids``); every other row counts from the start of records.
"""

from __future__ import annotations


def in_force_sql(alias: str = "", at: str = ":at", *, just_before: bool = False) -> str:
    """SQL that is true for the ``unit`` rows (table alias ``alias``; none: the table is named
    ``unit``) in force at ``at`` (an SQL expression).  ``just_before``: in force in the last
    instant before ``at`` — a month's map, drawn as the month ended (a change effective at
    midnight on the 1st belongs to the next month)."""
    a = f"{alias}." if alias else "unit."  # qualified: unit_change has an id column too
    started = "<" if just_before else "<="
    ends = ">=" if just_before else ">"
    return (f"(({a}valid_from {started} {at} OR NOT EXISTS (SELECT 1 FROM unit_change uc "
            f"WHERE {a}id = ANY(uc.added_ids))) AND ({a}valid_to IS NULL OR {a}valid_to "
            f"{ends} {at}))")
