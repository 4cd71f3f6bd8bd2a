"""The registry of levels is the one mapping of depth, key, column and names."""

from __future__ import annotations

import pytest

from geo import levels
from geo.workflow import COUNTY, GRID
from onemap.settings import DEFAULT_LEVEL_NAMES
from store.measures import UNIT_COLUMNS


def test_registry_agrees_with_settings_workflow_and_store() -> None:
    assert levels.DEFAULT_NAMES_ZH == DEFAULT_LEVEL_NAMES
    assert (COUNTY, GRID) == (levels.TOP, levels.BOTTOM)
    assert UNIT_COLUMNS == levels.LEVEL_COLUMNS
    assert [lv.depth for lv in levels.LEVELS] == list(range(len(levels.LEVELS)))


def test_parse_and_name() -> None:
    assert levels.parse_level("town") == 1 and levels.parse_level("3") == 3
    with pytest.raises(levels.LevelError, match="not a level"):
        levels.parse_level("province")
    with pytest.raises(levels.LevelError, match="does not exist"):
        levels.parse_level(7)
    assert levels.name(1, "en") == "Township / street"
    assert levels.name(0, "zh", ("市", "区")) == "市"
    assert levels.as_json()[3] == {"depth": 3, "key": "grid", "column": "grid_id",
                                   "zh": "网格", "en": "Grid"}
