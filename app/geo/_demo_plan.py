"""The plans of the synthetic cities (the demo city and the tiny test city) and the words their names use."""

from __future__ import annotations

from dataclasses import dataclass, field

STEP = 125.0  # lattice spacing in metres; an urban block is 2 x 2 lattice cells (250 m)
CENTRE = (98.29, 39.77)  # city centre, lon/lat

SURNAMES = ("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎")
GIVEN = ("伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰凤红建国文斌鹏辉婷雪梅晓燕海波志宏亮"
          "春林峰琳颖慧欣瑞宁新民丹")
NUMERALS = "〇一二三四五六七八九十"
URBAN_ART = {"v": ("峪泉路", "新华路", "五一路", "建设路", "钢城路"),
              "h": ("长城路", "雄关路", "兰新路", "胜利路", "迎宾路")}
URBAN_SEC = {"v": ("明珠路", "文化路", "和平路", "育才路"), "h": ("团结路", "友谊路", "朝阳路", "前进路")}
LOCAL_WORDS = ["安康", "福寿", "永乐", "兴盛", "泰和", "嘉禾", "丰收", "振兴", "光华", "华夏", "春风", "翠柳", "紫荆", "金桥", "银河", "星光", "锦绣", "长乐", "同心", "利民", "惠民", "富民", "新风", "民主", "果园", "景园", "清泉", "祁连", "讨赖", "黑山", "天成", "泰安", "乐园", "绿苑", "阳关", "玉门", "天山", "雪峰", "昌盛", "繁荣", "兴隆", "瑞安", "宏图", "文昌", "和美", "康宁", "望湖", "怡园", "晨曦", "丽园"]
COMPOUND_WORDS = ["金色", "馨苑", "锦华", "万和", "盛世", "怡景", "丽都", "翠园", "紫金", "嘉和", "瑞祥", "康泰", "和谐", "幸福", "天宇", "祥和", "东方", "博雅", "文苑", "书香", "润泽", "兰亭", "荣华", "安居", "宜居", "颐和", "鸿福", "世纪", "长虹", "新天地", "明珠", "南湖", "北湖", "东湖", "西湖", "雄关", "镜铁", "钢花", "建设", "朝晖", "胜利", "前进", "五一", "人民", "峪苑", "福民", "迎宾", "紫轩", "友谊"]
COMPOUND_SUFFIX = ("小区", "花园", "家园", "苑", "新村", "公寓")


@dataclass(frozen=True)
class Division:
    code: str
    name: str
    kind: str  # subdistrict | town
    committees: tuple[str, ...]
    block_cols: int = 0  # subdistricts: width of its strip of urban blocks, west to east
    angle: float = 0.0  # towns: direction (degrees, counter-clockwise from east) of its seed
    village_grids: tuple[int, ...] = ()  # towns: grids per village


@dataclass(frozen=True)
class Plan:
    name: str
    divisions: tuple[Division, ...]
    urban_blocks: tuple[int, int]  # (columns, rows) of 250 m blocks
    urban_grids: int
    urban_offset: tuple[float, float]  # metres from the centre to the urban rectangle's north-west corner
    blob: tuple[float, float]  # city radius east-west / north-south, metres
    addr_road: tuple[int, int]  # road addresses per urban grid
    compound_share: float
    buildings: tuple[int, int]
    households: tuple[int, int]
    rural_addr: tuple[int, int]
    rural_households: tuple[int, int]
    mini: bool = False
    named_compounds: dict[str, str] = field(default_factory=dict)  # compound -> committee


FULL = Plan(
    name="嘉峪关市（合成演示数据）",
    divisions=(
        Division("620201001", "雄关街道", "subdistrict", (
            "雄关社区", "建设社区", "朝晖社区", "人民社区", "五一社区", "胜利社区", "新华社区", "前进社区",
            "长城社区", "峪苑社区", "福民社区", "东湖社区", "明珠社区", "绿化社区", "光明社区", "和诚社区"),
            block_cols=16),
        Division("620201002", "钢城街道", "subdistrict", (
            "镜铁社区", "钢花社区", "迎宾社区", "友谊社区", "紫轩社区", "朝阳社区", "兰新社区", "团结社区",
            "金港社区", "文化社区", "嘉园社区", "育才社区", "南湖社区", "祁连社区", "和平社区"),
            block_cols=16),
        Division("620201100", "新城镇", "town", (
            "新城村", "长城村", "横沟村", "中沟村", "野麻湾村", "观礼村", "泥沟村"),
            angle=40.0, village_grids=(3, 3, 3, 3, 3, 3, 2)),
        Division("620201101", "峪泉镇", "town", ("嘉峪关村", "黄草营村", "断山口村", "安远沟村", "峪泉村"),
                  angle=175.0, village_grids=(3, 3, 3, 3, 2)),
        Division("620201102", "文殊镇", "town", ("文殊村", "河口村", "石桥村", "塔湾村", "冯家沟村"),
                  angle=290.0, village_grids=(3, 3, 3, 3, 2)),
    ),
    urban_blocks=(32, 31),
    urban_grids=613 - 48,
    urban_offset=(-4250.0, 4500.0),
    blob=(12500.0, 11000.0),
    addr_road=(10, 16),
    compound_share=0.6,
    buildings=(6, 16),
    households=(150, 270),  # about 210 households, 525 residents a grid: ~312,000 people, Jiayuguan's 2020 census
    rural_addr=(12, 18),
    rural_households=(60, 200),
    named_compounds={"阳光小区": "朝晖社区", "西域花园小区": "雄关社区", "雄关小区": "雄关社区",
                     "朝晖小区": "朝晖社区", "建设小区": "建设社区"},
)

MINI = Plan(
    name="迷你测试城市（合成）",
    divisions=(
        Division("620201001", "雄关街道", "subdistrict", ("建设社区", "朝晖社区"), block_cols=4),
        Division("620201102", "文殊镇", "town", ("河口村",), angle=270.0, village_grids=(2,)),
    ),
    urban_blocks=(4, 3),
    urban_grids=8,
    urban_offset=(-500.0, 375.0),
    blob=(2400.0, 2000.0),
    addr_road=(4, 6),
    compound_share=0.5,
    buildings=(2, 4),
    households=(60, 120),
    rural_addr=(4, 6),
    rural_households=(15, 30),
    mini=True,
    named_compounds={"阳光小区": "朝晖社区"},
)


def cn(n: int) -> str:
    """Chinese numeral for 1..99."""
    if n <= 10:
        return NUMERALS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else NUMERALS[tens]) + "十" + (NUMERALS[ones] if ones else "")
