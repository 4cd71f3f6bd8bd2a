"""Which column of a file holds which field: built-in Chinese/English aliases, `--map` wins.

Headers are compared normalised (case, spaces, underscores and a bracketed unit suffix such as
"经度（WGS84）" ignored), so common variants of real exports match without configuration.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

from loaders.importers.options import LoadError

_BRACKETS = re.compile(r"[（(\[【].*?[)）\]】]")
_JUNK = re.compile(r"[\s_\-.:：/、*]+")


def normalise_header(name: str) -> str:
    return _JUNK.sub("", _BRACKETS.sub("", str(name))).lower()


LON = ("经度", "lon", "lng", "long", "longitude", "x", "x坐标", "东经", "gpsx", "坐标x")
LAT = ("纬度", "lat", "latitude", "y", "y坐标", "北纬", "gpsy", "坐标y")

ALIASES: dict[str, dict[str, tuple[str, ...]]] = {
    "boundaries": {
        "code": ("code", "编码", "代码", "网格编码", "网格代码", "网格编号", "区划代码",
                 "行政区划代码", "单元编码", "社区编码", "村编码", "gridcode", "gid_code", "adcode",
                 "unitcode"),
        "name": ("name", "名称", "网格名称", "网格名", "单元名称", "社区名称", "村名称", "区划名称",
                 "gridname", "unitname"),
        "parent_code": ("parent_code", "parentcode", "parent", "上级编码", "上级代码",
                        "所属社区编码", "所属村编码", "所属街道编码", "所属乡镇编码",
                        "所属单元编码", "父级编码", "上级区划代码"),
        "parent_name": ("parent_name", "parentname", "上级名称", "所属社区", "所属村", "所属村社区",
                        "所属街道", "所属乡镇", "所属单元", "上级单元"),
        "level": ("level", "层级", "级别", "单元级别", "类型", "网格层级"),
    },
    "households": {
        "code": ("code", "户编码", "户号", "户籍编号", "住户编码", "房屋编码", "家庭编号",
                 "householdcode"),
        "address": ("address", "地址", "住址", "门牌地址", "详细地址", "居住地址", "房屋地址"),
        "building": ("building", "楼栋", "楼号", "栋", "楼栋号", "幢"),
        "room": ("room", "房号", "房间号", "室", "门牌号", "户室号"),
        "size": ("size", "家庭人数", "人口数", "户人数", "人数", "家庭人口", "居住人数"),
        "registered": ("registered", "户籍人口", "户籍人数", "常住户籍人口"),
        "floating": ("floating", "流动人口", "流动人数", "外来人口"),
        "is_rental": ("is_rental", "是否出租", "出租屋", "出租房屋", "出租"),
        "is_elderly_alone": ("is_elderly_alone", "独居老人", "是否独居老人", "空巢独居老人"),
        "is_special_care": ("is_special_care", "特殊关爱", "重点关爱", "关爱对象", "特殊人群",
                            "是否特殊关爱"),
        "tags": ("tags", "标签", "人员标签", "户标签"),
        "head_name": ("head_name", "户主姓名", "户主", "姓名", "户主名称"),
        "head_phone": ("head_phone", "联系电话", "电话", "手机号", "手机", "联系方式", "户主电话"),
        "head_id_number": ("head_id_number", "身份证号", "身份证号码", "证件号码", "公民身份号码"),
        "lon": LON,
        "lat": LAT,
    },
    "cameras": {
        "code": ("code", "设备编码", "摄像头编码", "设备编号", "国标编码", "点位编号", "编号",
                 "deviceid"),
        "name": ("name", "名称", "设备名称", "点位名称", "摄像头名称", "安装位置"),
        "kind": ("kind", "类型", "设备类型", "建设类型", "所属系统", "类别", "来源"),
        "status": ("status", "状态", "在线状态", "设备状态", "运行状态"),
        "stream_url": ("stream_url", "视频流地址", "流地址", "视频地址", "rtsp", "url",
                       "播放地址"),
        "heading_deg": ("heading_deg", "heading", "朝向", "方位角", "方向角", "朝向角"),
        "fov_deg": ("fov_deg", "fov", "视场角", "视角", "水平视场角"),
        "range_m": ("range_m", "range", "可视距离", "监控距离", "覆盖半径", "距离"),
        "lon": LON,
        "lat": LAT,
    },
    "incidents": {
        "external_id": ("external_id", "工单编号", "受理编号", "工单号", "事件编号", "编号",
                        "案件编号", "诉求编号", "工单流水号", "单号", "id"),
        "source": ("source", "来源", "渠道", "事件来源", "来源渠道", "受理渠道", "工单来源"),
        "category": ("category", "事件类型", "诉求类型", "诉求类别", "问题类型", "事项类型",
                     "诉求分类", "问题分类", "分类", "类别", "事件分类", "大类", "一级分类"),
        "subcategory": ("subcategory", "子类", "小类", "二级分类", "事件子类", "问题子类"),
        "severity": ("severity", "紧急程度", "严重程度", "等级", "事件等级", "优先级"),
        "description": ("description", "诉求内容", "事件描述", "描述", "内容", "问题描述",
                        "事件内容", "来电内容"),
        "address": ("address", "地址", "事发地址", "发生地址", "事件地址", "诉求地址", "详细地址"),
        "reported_at": ("reported_at", "上报时间", "发生时间", "来电时间", "发现时间", "反映时间"),
        "received_at": ("received_at", "受理时间", "接收时间", "登记时间", "创建时间",
                        "立案时间"),
        "status": ("status", "状态", "办理状态", "工单状态", "处理状态", "事件状态"),
        "due_at": ("due_at", "办理时限", "截止时间", "办结时限", "期限", "到期时间"),
        "closed_at": ("closed_at", "办结时间", "结案时间", "关闭时间", "完成时间"),
        "rating": ("rating", "满意度", "评价", "群众评价", "回访评价", "评分"),
        "reporter_name": ("reporter_name", "来电人", "来电人姓名", "诉求人", "反映人", "联系人",
                          "报告人"),
        "reporter_phone": ("reporter_phone", "联系电话", "来电号码", "来电电话", "联系方式",
                           "诉求人电话"),
        "lon": LON,
        "lat": LAT,
    },
}


def resolve_columns(kind: str, columns: Iterable[str], mapping: Mapping[str, str]
                    ) -> dict[str, str]:
    """{field: column} for the fields this file has; `--map` entries must exist."""
    aliases = ALIASES[kind]
    columns = list(columns)
    unknown_fields = [f for f in mapping if f not in aliases]
    if unknown_fields:
        raise LoadError(f"--map: unknown field(s) {', '.join(unknown_fields)} for {kind}; "
                        f"known: {', '.join(aliases)}.")
    missing = [c for c in mapping.values() if c not in columns]
    if missing:
        raise LoadError(f"--map: column(s) {', '.join(map(repr, missing))} not in the file; "
                        f"its columns are: {', '.join(columns)}.")
    by_norm: dict[str, str] = {}
    for col in columns:
        by_norm.setdefault(normalise_header(col), col)
    found = dict(mapping)
    taken = set(mapping.values())
    for fld, names in aliases.items():
        if fld in found:
            continue
        for alias in names:
            col = by_norm.get(normalise_header(alias))
            if col is not None and col not in taken:
                found[fld] = col
                taken.add(col)
                break
    return found


def require(kind: str, found: Mapping[str, str], fields: Iterable[str],
            columns: Iterable[str]) -> None:
    """Refuse the file when a required field has no column, naming how to map it."""
    missing = [f for f in fields if f not in found]
    if missing:
        examples = {f: ALIASES[kind][f][1] if len(ALIASES[kind][f]) > 1 else f for f in missing}
        raise LoadError(
            f"No column for {', '.join(missing)} (looked for e.g. "
            f"{', '.join(examples.values())}); the file's columns are: "
            f"{', '.join(columns)}. Name them with --map, e.g. "
            f"--map {missing[0]}=<column>.")
