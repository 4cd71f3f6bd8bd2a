"""The README documents the workflow exactly as the state machine enforces it."""

from __future__ import annotations

import re

from geo.workflow import TRANSITIONS
from onemap.settings import PROJECT_ROOT


def _readme_transitions() -> dict[str, tuple[set[str], str]]:
    text = (PROJECT_ROOT / "README.md").read_text(encoding="utf-8")
    rows = re.findall(r"^\| `(\w+)` \S+ \| ([^|]+) \| `(\w+)` \|$", text, flags=re.MULTILINE)
    return {action: (set(re.findall(r"`(\w+)`", sources)), target)
            for action, sources, target in rows}


def test_readme_transition_table_matches_the_state_machine() -> None:
    documented = _readme_transitions()
    enforced = {a: (set(src), dst) for a, (src, dst) in TRANSITIONS.items()}
    assert documented == enforced
