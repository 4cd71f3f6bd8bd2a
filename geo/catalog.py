"""The governance catalogue: incident channels, categories (with default severity and the
department that usually acts) and departments, as the source documents name them.

Pure data, shared by the demo generator, the importers and intake, so that "unknown category"
means the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

SOURCES: dict[str, tuple[str, str]] = {
    "grid_app": ("网格员App", "Grid-worker app"),
    "hotline_12345": ("12345热线", "12345 hotline"),
    "citizen_app": ("群众随手拍", "Citizen app / mini-program"),
    "police_110": ("110非警务转办", "110 police transfer"),
    "petition": ("信访", "Petition"),
    "court": ("法院转办", "Court transfer"),
    "other": ("其他", "Other"),
}

# Chinese labels a file may use for a channel, mapped to our codes.
SOURCE_ALIASES: dict[str, str] = {
    "网格员": "grid_app", "网格App": "grid_app", "网格员App": "grid_app", "巡查": "grid_app",
    "12345": "hotline_12345", "12345热线": "hotline_12345", "热线": "hotline_12345",
    "随手拍": "citizen_app", "小程序": "citizen_app", "群众随手拍": "citizen_app",
    "110": "police_110", "110转办": "police_110", "110非警务转办": "police_110",
    "信访": "petition", "法院": "court", "法院转办": "court", "诉调": "court", "其他": "other",
}


@dataclass(frozen=True)
class Category:
    code: str
    zh: str
    en: str
    severity: str  # default: high / medium / low
    department: str  # code of the department that usually acts
    subcategories: tuple[str, ...] = ()


CATEGORIES: tuple[Category, ...] = (
    Category("dispute", "矛盾纠纷", "Dispute", "medium", "sifa",
             ("婚姻家庭", "邻里纠纷", "土地草场", "物业纠纷", "劳资纠纷", "征地拆迁")),
    Category("safety_hazard", "安全隐患", "Safety hazard", "high", "yingji",
             ("房屋安全", "燃气安全", "道路交通", "危化品", "地质灾害")),
    Category("fire", "消防", "Fire safety", "high", "xiaofang",
             ("消防通道堵塞", "电动车违规充电", "消防设施损坏")),
    Category("public_order", "治安", "Public order", "high", "gongan",
             ("可疑人员", "打架斗殴", "盗窃", "噪音扰民")),
    Category("sanitation", "环境卫生", "Sanitation", "low", "chengguan",
             ("垃圾堆放", "污水外溢", "公厕", "病媒生物")),
    Category("cityscape", "市容", "Cityscape", "low", "chengguan",
             ("占道经营", "乱搭乱建", "违规广告", "乱停车")),
    Category("livelihood", "民生服务", "Livelihood services", "medium", "minzheng",
             ("低保救助", "养老服务", "就业", "医保社保", "供暖供水")),
    Category("environment", "生态环境", "Environment", "medium", "shengtai",
             ("大气污染", "水污染", "草原生态", "噪声")),
    Category("infrastructure", "基础设施", "Infrastructure", "medium", "zhujian",
             ("道路破损", "路灯", "井盖缺失", "供电故障")),
    Category("market", "市场监管", "Market regulation", "medium", "shichang",
             ("食品安全", "价格", "无证经营")),
    Category("key_person", "重点人员", "Key persons", "high", "gongan",
             ("社区矫正", "精神障碍", "吸毒人员")),
    Category("other", "其他", "Other", "low", "zhengfuban", ()),
)
CATEGORY_BY_CODE: dict[str, Category] = {c.code: c for c in CATEGORIES}
CATEGORY_BY_ZH: dict[str, Category] = {c.zh: c for c in CATEGORIES}
#: How hotline (12345) and other exports name the catalogue's categories: their 诉求类型 /
#: 问题类型 / 事项类型 wordings → category code.  One table for the file import and the API.
CATEGORY_ALIASES: dict[str, str] = {
    **dict.fromkeys(("城市管理", "城管", "市容市貌", "市容环境", "市容秩序", "违章建筑", "违法建设",
                     "占道经营", "乱停乱放", "户外广告"), "cityscape"),
    **dict.fromkeys(("环境卫生", "卫生保洁", "垃圾清运", "生活垃圾", "公共卫生", "环卫",
                     "污水", "下水道"), "sanitation"),
    **dict.fromkeys(("环境保护", "生态环境", "环保", "大气污染", "水污染", "噪声污染",
                     "扬尘", "油烟"), "environment"),
    **dict.fromkeys(("治安管理", "社会治安", "治安", "噪音扰民", "公共安全", "涉稳"),
                    "public_order"),
    **dict.fromkeys(("矛盾纠纷", "纠纷调解", "邻里纠纷", "劳动纠纷", "劳资纠纷", "物业纠纷",
                     "物业管理", "婚姻家庭"), "dispute"),
    **dict.fromkeys(("安全生产", "安全隐患", "房屋安全", "燃气安全", "交通安全",
                     "地质灾害"), "safety_hazard"),
    **dict.fromkeys(("消防安全", "消防", "火灾隐患", "消防通道"), "fire"),
    **dict.fromkeys(("民生服务", "社会保障", "劳动保障", "社保医保", "医疗卫生", "教育",
                     "养老服务", "住房保障", "低保救助", "就业创业", "供暖", "供水",
                     "供热", "户籍办理"), "livelihood"),
    **dict.fromkeys(("市政设施", "基础设施", "道路交通", "道路维修", "路灯照明", "供电",
                     "公共设施", "城乡建设", "交通出行"), "infrastructure"),
    **dict.fromkeys(("市场监管", "消费维权", "食品安全", "价格监督", "商品质量",
                     "无证经营"), "market"),
    **dict.fromkeys(("重点人员", "特殊人群"), "key_person"),
    **dict.fromkeys(("其他", "其它", "咨询", "建议", "表扬"), "other"),
}

# ~31 departments a county dispatches to (code, name, kind).
DEPARTMENTS: tuple[tuple[str, str, str], ...] = (
    ("gongan", "公安局", "政法"), ("sifa", "司法局", "政法"), ("xinfang", "信访局", "政法"),
    ("fayuan", "人民法院", "政法"), ("renshe", "人力资源和社会保障局", "民生"),
    ("zhujian", "住房和城乡建设局", "城建"), ("chengguan", "城市管理综合执法局", "城建"),
    ("shichang", "市场监督管理局", "监管"), ("yingji", "应急管理局", "安全"),
    ("xiaofang", "消防救援大队", "安全"), ("weijian", "卫生健康局", "民生"),
    ("jiaoyu", "教育局", "民生"), ("minzheng", "民政局", "民生"),
    ("ziranziyuan", "自然资源局", "资源"), ("shengtai", "生态环境局", "资源"),
    ("jiaotong", "交通运输局", "城建"), ("shuiwu", "水务局", "城建"),
    ("gongdian", "供电公司", "公用事业"), ("gongre", "供热公司", "公用事业"),
    ("ranqi", "燃气公司", "公用事业"), ("nongye", "农业农村局", "资源"),
    ("linye", "林业和草原局", "资源"), ("tuijun", "退役军人事务局", "民生"),
    ("yibao", "医疗保障局", "民生"), ("wenlv", "文化和旅游局", "民生"),
    ("tongzhan", "统战部（民族宗教）", "政法"), ("fulian", "妇联", "群团"),
    ("gonghui", "总工会", "群团"), ("tuanwei", "团委", "群团"),
    ("shuju", "数据局（12345）", "综合"), ("zhengfuban", "政府办公室", "综合"),
)
