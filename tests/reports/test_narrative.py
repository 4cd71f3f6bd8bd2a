"""The narrative sentences, from hand-written numbers (no database)."""

from __future__ import annotations

import math

from reports import narrative as nv


def headline(**kw):
    base = {"received": 1200, "prev_received": 1000, "change_pct": 20.0, "resolved": 1000,
            "resolution_rate": 1000 / 1200, "on_time_rate": 0.9, "closed_share_grid": 0.6,
            "closed_share_village": 0.25, "closed_share_town": 0.1,
            "closed_share_county": 0.05, "households": 40000, "per_1000_households": 30.0}
    base.update(kw)
    return base


def test_rise_with_all_parts():
    text = nv.sentences(headline(), top_categories=[("sanitation", 300), ("dispute", 200),
                                                    ("fire", 100)],
                        hot=5, new_hot=2, hot_places=["玉门镇", "赤金镇"],
                        rises=[("玉门镇", 35.0)], level_name="乡镇(街道)")
    assert text[0] == "本月共受理事件 1,200 件，环比上升 20.0%（上月 1,000 件），每千户 30.0 件。"
    assert text[1] == "已办结 1,000 件，办结率 83.3%，按期办结率 90.0%。"
    assert text[2] == ("办结事件中，网格内办结 60.0%，村（社区）内办结 25.0%，"
                       "乡镇（街道）内办结 10.0%，县级办结 5.0%。")
    assert text[3] == "本月共有热点网格 5 处，其中新增热点 2 处，主要位于玉门镇和赤金镇。"
    assert text[4] == ("事件最多的类别是环境卫生（300 件，占 25.0%），"
                       "其次是矛盾纠纷（200 件）和消防（100 件）。")
    assert text[5] == "环比上升最多的乡镇(街道)：玉门镇（+35.0%）。"


def test_fall_and_flat():
    assert "环比下降 25.0%（上月 1,000 件）" in nv.sentences(
        headline(received=750, change_pct=-25.0))[0]
    assert "与上月（1,000 件）持平" in nv.sentences(
        headline(received=1000, change_pct=0.0))[0]
    # the change is computed when the caller has none
    assert "环比下降 10.0%" in nv.change_phrase(900, 1000)


def test_no_previous_month():
    first = nv.sentences(headline(prev_received=0, change_pct=math.nan))[0]
    assert first.startswith("本月共受理事件 1,200 件，上月无事件，无法计算环比")
    assert "无上月数据" in nv.change_phrase(5, None)


def test_empty_month_says_so_and_nothing_else():
    assert nv.sentences(headline(received=0, prev_received=0, resolved=0,
                                 resolution_rate=math.nan, on_time_rate=math.nan)) \
        == ["本月未受理事件。"]
    assert nv.sentences(headline(received=0, prev_received=40, resolved=0)) \
        == ["本月未受理事件，上月为 40 件。"]


def test_nothing_resolved_and_no_households():
    text = nv.sentences(headline(resolved=0, resolution_rate=0.0, on_time_rate=math.nan,
                                 per_1000_households=math.nan,
                                 **{f"closed_share_{k}": math.nan
                                    for k in ("grid", "village", "town", "county")}))
    assert text[0].endswith("（上月 1,000 件）。")  # no per-1000 clause without households
    assert text[1] == "本月受理的事件尚无办结。"
    assert not any(s.startswith("办结事件中") for s in text)


def test_hot_spot_sentences():
    assert nv.hotspot_sentence(0, 0) == "本月未发现统计显著的事件热点网格。"
    assert "无新增热点" in nv.hotspot_sentence(4, 0, ["玉门镇"])
    assert nv.hotspot_sentence(3, 3, []) == "本月共有热点网格 3 处，其中新增热点 3 处。"
    assert "主要位于甲、乙和丙。" in nv.hotspot_sentence(9, 5, ["甲", "乙", "丙", "丁"])


def test_formatting_helpers():
    assert nv.pct(math.nan) == "—" and nv.pct(0.1234) == "12.3%"
    assert nv.count(None) == "—" and nv.count(1234567) == "1,234,567"
    assert nv.category_name("dispute") == "矛盾纠纷"
    assert nv.category_name("unheard_of") == "unheard_of"
    assert nv.rise_sentence([("甲", -3.0)], "村") is None
    assert nv.category_sentence([], 10) is None
