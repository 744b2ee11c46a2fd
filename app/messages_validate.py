"""Chinese text of the validator's and the import checks' reports (`gridmap --lang zh validate`/`import`): English
pattern -> Chinese template."""

from __future__ import annotations

import re

#: Layer keys and their singular words as the Chinese report names them (``layer``/``layers``/``parent`` groups).
_LAYERS = {"divisions": "街道（镇）", "committees": "社区（村）", "grids": "网格", "facilities": "设施",
           "addresses": "地址", "roads": "道路", "division": "街道（镇）", "committee": "社区（村）"}
#: Other words a group may hold (``kinds``, ``allowed``, ``v``), in Chinese.
_WORDS = {"none": "无", "empty": "空", "str": "文本", "int": "整数", "float": "数值", "community": "社区",
          "village": "村", "text": "文本", "a number": "数值", "a whole number": "整数"}
#: GEOS's reasons for an invalid geometry (``shapely.is_valid_reason``, before its ``[x y]``), in Chinese.
_GEOS = {"Self-intersection": "自相交", "Ring Self-intersection": "环自相交", "Hole lies outside shell": "内环在外环之外",
         "Nested holes": "内环嵌套", "Interior is disconnected": "内部不连通", "Nested shells": "外环嵌套",
         "Duplicate Rings": "环重复", "Too few points in geometry component": "几何部件的点太少",
         "Invalid Coordinate": "坐标无效", "Ring is not closed": "环未闭合"}

#: The report's own words: its head, section lines and verdict (``{mark}`` is ✓, ⚠, ✗ or –, kept as it is).
FRAME: dict[str, str] = {
    "head": "检查 {source}",
    "section": "{mark} {title}：{detail}",
    "counts": "{detail} — {counts}",
    "errors": "{n} 个错误",
    "warnings": "{n} 个警告",
    "skipped": "– {title}：已跳过（{why}）",
    "more": "    …… 另有 {n} 条",
    "finding": "[{severity}] {layer}{feature}：{message}{at}",
    "OK": "通过：{errors}，{warnings}",
    "FAILED": "未通过：{errors}，{warnings}",
}

#: Section titles, what each checked, why one was skipped, and every finding's message.
PATTERNS: tuple[tuple[str, str], ...] = (
    # section titles
    (r"Files", "文件"),
    (r"Geometry types and validity", "几何类型与有效性"),
    (r"Attributes and types", "属性与类型"),
    (r"Codes \(division 9, committee 12, grid 15 digits\)", "编码（街道（镇）9 位，社区（村）12 位，网格 15 位）"),
    (r"Codes \(unique, parents exist\)", "编码（唯一，上级存在）"),
    (r"Grid numbering \(west→east, then north→south\)", "网格编号（先自西向东，再自北向南）"),
    (r"Nesting \(grid in committee, committee in division\)", "层级嵌套（网格在社区（村）内，社区（村）在街道（镇）内）"),
    (r"Overlaps \(> (?P<t>\S+) m², (?P<crs>.+)\)", "重叠（> {t} 平方米，{crs}）"),
    (r"Gaps \(> (?P<t>\S+) m², (?P<crs>.+)\)", "缝隙（> {t} 平方米，{crs}）"),
    (r"Population and households = sums over addresses", "人口和户数 = 各地址之和"),
    (r"Addresses and facilities lie in their grid", "地址和设施位于所属网格内"),
    (r"Facility categories, subtypes and CJ/T 214 codes", "设施类别、子类和 CJ/T 214 编码"),
    (r"Address text, kinds and uniqueness", "地址文字、类型和唯一性"),
    (r"Roads, and points within (?P<d>\S+) m of a road", "道路，以及地址和设施距道路不超过 {d} 米"),
    # what a section checked
    (r"(?P<a>\d+)/(?P<b>\d+) layers read", "已读取 {a}/{b} 个图层"),
    (r"(?P<n>\d+) features", "{n} 个要素"),
    (r"(?P<n>\d+) layers", "{n} 个图层"),
    (r"(?P<a>\d+) divisions, (?P<b>\d+) committees, (?P<c>\d+) grids", "{a} 个街道（镇），{b} 个社区（村），{c} 个网格"),
    (r"(?P<a>\d+) grids in (?P<b>\d+) committees", "{b} 个社区（村）中的 {a} 个网格"),
    (r"(?P<n>\d+) areas", "{n} 个区域"),
    (r"grids, committees and divisions city-wide", "全市的网格、社区（村）和街道（镇）"),
    (r"grids in committees, committees in divisions, holes city-wide", "社区（村）内的网格、街道（镇）内的社区（村）、全市的空洞"),
    (r"(?P<a>\d+) grids, (?P<b>\d+) addresses", "{a} 个网格，{b} 个地址"),
    (r"(?P<n>\d+) points", "{n} 个点"),
    (r"(?P<n>\d+) facilities", "{n} 个设施"),
    (r"(?P<n>\d+) addresses", "{n} 个地址"),
    (r"(?P<n>\d+) roads", "{n} 条道路"),
    # why a section was skipped
    (r"needs (?P<layers>.+)", "缺少图层：{layers}"),
    (r"the city's code scheme is (?P<s>\S+), not cn-9-12-15", "本市的编码规则是 {s}，不是 cn-9-12-15"),
    # files
    (r"file (?P<f>.+) is missing \(optional layer\)", "缺少文件 {f}（可选图层）"),
    (r"file (?P<f>.+) is missing", "缺少文件 {f}"),
    (r"cannot read (?P<f>[^:]+): (?P<why>.*)", "无法读取 {f}：{why}"),
    # geometry and attributes
    (r"missing or empty geometry", "几何缺失或为空"),
    (r"geometry is (?P<t>\S+), expected (?P<allowed>.+)", "几何类型是 {t}，应为 {allowed}"),
    (r"invalid geometry: (?P<geos>[^;]*)", "几何无效：{geos}"),
    (r"required field (?P<f>.+) is missing", "缺少必填字段 {f}"),
    (r"field (?P<f>.+) is empty in (?P<n>\d+) features?", "字段 {f} 在 {n} 个要素中为空"),
    (r"field (?P<f>.+) should be (?P<v>\S+) but (?P<n>\d+) values? (?:is|are) not \(e\.g\. (?P<e>.+)\)",
     "字段 {f} 应为{v}，但有 {n} 个值不是（如 {e}）"),
    (r"(?P<f>\S+) (?P<text>'.*') has an? .+ \(U\+(?P<cp>[0-9A-F]+)\) at position (?P<p>\d+)"
     r" \(and (?P<more>\d+) more hidden characters\)",
     "{f} {text} 的第 {p} 个字符是隐藏字符 U+{cp}（另有 {more} 个隐藏字符）"),
    (r"(?P<f>\S+) (?P<text>'.*') has an? .+ \(U\+(?P<cp>[0-9A-F]+)\) at position (?P<p>\d+)",
     "{f} {text} 的第 {p} 个字符是隐藏字符 U+{cp}"),
    # codes and nesting
    (r"code (?P<c>.+) is not (?P<n>\d+) digits", "编码 {c} 不是 {n} 位"),
    (r"(?P<f>\S+) (?P<v>.+) is used by (?P<n>\d+) features", "{f} {v} 被 {n} 个要素重复使用"),
    (r"(?P<f>\S+) (?P<v>.+) is not one of (?P<kinds>[^:]+)", "{f} {v} 不是可选值之一：{kinds}"),
    (r"kind (?P<v>.+) is not road or compound", "kind {v} 不是 road 或 compound"),
    (r"code does not start with its (?P<f>\S+) (?P<p>.+)", "编码不以其 {f} {p} 开头"),
    (r"(?P<f>\S+) (?P<p>.+) is not in the (?P<layer>\S+) layer", "{f} {p} 不在{layer}图层中"),
    (r"last 3 digits must be 001-199 \(community\) or 200-399 \(village\)", "末 3 位须为 001-199（社区）或 200-399（村）"),
    (r"kind is (?P<v>.+) but code (?P<c>\S+) is in the (?P<kinds>\S+) range", "kind 为 {v}，但编码 {c} 在{kinds}的范围内"),
    (r"division_code (?P<d>\S+) differs from its committee's (?P<c>\S+)", "division_code {d} 与其社区（村）的 {c} 不同"),
    (r"(?P<n>\d+) grids, expected (?P<e>\d+)", "有 {n} 个网格，应为 {e} 个"),
    (r"grid numbers are not west->east, north->south; spatial order is (?P<o>.+)",
     "网格编号不是先自西向东、再自北向南；按位置的顺序是 {o}"),
    (r"grid numbers are not 001-(?P<n>\d+) without gaps", "网格编号不是连续的 001-{n}"),
    (r"(?P<a>\S+) m² lies outside its (?P<parent>\S+) (?P<c>\S+)", "有 {a} 平方米超出其所属{parent} {c}"),
    (r"overlaps (?P<c>.+?) by (?P<a>\S+) m²", "与 {c} 重叠 {a} 平方米"),
    (r"has no (?P<layer>\S+)", "没有任何{layer}"),
    (r"gap of (?P<a>\S+) m² not covered by any of its (?P<layer>\S+)", "有 {a} 平方米的缝隙不属于其任何{layer}"),
    (r"gap of (?P<a>\S+) m² between (?P<layer>\S+)", "{layer}之间有 {a} 平方米的缝隙"),
    # sums, points, facilities, addresses, roads
    (r"(?P<f>\S+) is (?P<v>\S+) but its addresses' (?P<g>\S+) sum to (?P<n>-?\d+)", "{f} 为 {v}，但其地址的 {g} 之和为 {n}"),
    (r"lies outside every grid", "不在任何网格内"),
    (r"grid_code is (?P<c>\S+) but it lies in (?P<g>\S+)", "grid_code 为 {c}，但位于网格 {g} 内"),
    (r"cjt214_code is (?P<c>.+), expected (?P<w>.+) for (?P<cat>\S+)", "{cat} 的 cjt214_code 应为 {w}，实为 {c}"),
    (r"subtype (?P<s>.+) is not allowed for (?P<cat>\S+) \((?P<allowed>.*)\)", "{cat} 不能用子类 {s}（可用：{allowed}）"),
    (r"(?P<cat>\S+) has no capacity", "{cat} 缺少容量（capacity）"),
    (r"(?P<cat>\S+) should not have a capacity", "{cat} 不应有容量（capacity）"),
    (r"(?P<f>\S+) (?P<v>\S+) is negative", "{f} {v} 为负数"),
    (r"address (?P<a>.+) should read (?P<w>.+)", "地址 {a} 应为 {w}"),
    (r"more than (?P<d>\S+) m from any road", "距任何道路都超过 {d} 米"),
    # the import checks (app.geo.importer, app.geo._import_checks): an import report's findings
    (r"unknown layer (?P<v>.+); expected one of (?P<kinds>.+)", "未知图层 {v}，可选：{kinds}"),
    (r"the file holds no features", "文件中没有要素"),
    (r"the file is too complex to read", "文件过于复杂，无法读取"),
    (r"closed an unclosed ring by repeating its first position", "已重复首个坐标点，闭合了未闭合的环"),
    (r"a ring is not closed \(its last position differs from its first\); run with --repair to close it",
     "有环未闭合（最后一个坐标点与第一个不同）；加 --repair 可将其闭合"),
    (r"an alias file goes with the addresses layer only", "别名文件只能与地址图层一起导入"),
    (r"repaired: (?P<geos>.*)", "已修复：{geos}"),
    (r"invalid geometry: (?P<geos>.*); run with --repair to fix it", "几何无效：{geos}；加 --repair 可修复"),
    (r"invalid geometry \((?P<geos>.*)\) and the repair leaves no (?P<allowed>\S+)",
     "几何无效（{geos}），修复后也不再是 {allowed}"),
    (r"(?P<t>\S+) where layer (?P<layer>\S+) holds (?P<allowed>.+)", "几何类型是 {t}，但{layer}图层只能是 {allowed}"),
    (r"columns read as (?P<layer>\S+) fields: (?P<cols>.*)", "以下列已读作{layer}字段：{cols}"),
    (r"columns not in the (?P<layer>\S+) data model are kept as extra attributes: (?P<cols>.*)",
     "以下列不属于{layer}数据模型，已作为附加属性保留：{cols}"),
    (r"the file has no id column; ids (?P<ids>.+) were generated", "文件没有 id 列；已生成编号 {ids}"),
    (r"category words read as the vocabulary's keys: (?P<cols>.*)", "以下类别用词已按词表读作类别键：{cols}"),
    (r"missing values were filled with defaults: (?P<cols>.*)", "缺少的取值已填入默认值：{cols}"),
    (r"no (?P<layer>\S+) layer is stored, so containment was not checked", "尚未存储{layer}图层，未检查是否位于其内"),
    (r"… and (?P<n>\d+) more points lie in no grid \((?P<all>\d+) in all\); their grid_code is empty",
     "…… 另有 {n} 个点不在任何网格内（共 {all} 个）；它们的 grid_code 为空"),
    (r"grid_code filled in from the stored grids for (?P<n>\d+) features", "已按存储的网格为 {n} 个要素填入 grid_code"),
    (r"the feature has no (?P<f>\S+)", "该要素没有 {f}"),
    (r"(?P<f>\S+) (?P<v>.+) is also used by (?P<other>.+)", "{f} {v} 也被 {other} 使用"),
    (r"code (?P<c>.+) does not follow the (?P<n>\d+)-digit scheme \((?P<s>\S+)\)", "编码 {c} 不符合 {n} 位编码规则（{s}）"),
    (r"the grid has no committee_code: .*",
     "该网格没有 committee_code：请提供社区编码列，或用 init-city 建立城市（它能由所属社区名称列推导出社区（村））"),
    (r"the grid has no committee_code \(the (?P<s>\S+) code scheme derives nothing from the grid's code\): .*",
     "该网格没有 committee_code（{s} 编码规则不能由网格编码推导）：请提供社区编码列，或用 init-city 建立城市"
     "（它能由所属社区名称列推导出社区（村））"),
    (r"category (?P<v>.+) is not one of the categories or their words: (?P<kinds>.*)",
     "类别 {v} 不是已知的类别或其用词：{kinds}"),
    (r"(?P<parent>\S+) (?P<c>.+) does not exist in the stored (?P<layer>\S+); import (?P<first>\S+) first",
     "存储的{layer}中没有{parent} {c}；请先导入 {first}"),
    (r"area_m2 (?P<a>\S+) replaced by (?P<b>\S+) computed in (?P<crs>.+)", "area_m2 {a} 已替换为在 {crs} 中计算的 {b}"),
    (r"no grids are stored, so grid_code could not be filled in", "尚未存储网格，无法填入 grid_code"),
    (r"grid code (?P<c>\S+) does not start with its committee code (?P<p>\S+)", "网格编码 {c} 不以其社区（村）编码 {p} 开头"),
    (r"the point lies in no grid", "该点不在任何网格内"),
    (r"grid_code (?P<c>\S+) but the point lies in grid (?P<g>.+)", "grid_code 为 {c}，但该点位于网格 {g} 内"),
    (r"(?P<f>\S+) is (?P<v>.+), not (?P<kind>.+)", "{f} 为 {v}，不是{kind}"),
    (r"(?P<hidden>.+ has an? .+ at position \d+.*); removed", "{hidden}；已删除"),
    (r"(?P<layer>\S+) has no field (?P<f>.+); its fields are (?P<kinds>.+)", "{layer}图层没有字段 {f}；其字段为 {kinds}"),
    (r"the mapping (?P<t>\S+) = (?P<s>.+) names no column of the file; .*", "对应关系 {t} = {s} 指向的列在文件中不存在"),
    (r"column (?P<c>.+) is mapped to both (?P<a>\S+) and (?P<b>\S+)", "列 {c} 同时对应到 {a} 和 {b}"),
)

_COMPILED = [(re.compile(p, re.S), zh) for p, zh in PATTERNS]


def _group(key: str, value: str) -> str:
    """A matched group as the Chinese template takes it: layer names and a few words in Chinese."""
    if key == "hidden":  # a hidden character's finding, worded by its own pattern
        return text(value)
    if key == "kind":
        return _WORDS.get(value, value)
    if key in ("layer", "layers", "parent"):
        return "、".join(_LAYERS.get(v, v) for v in value.split(", "))
    if key == "geos":
        reason, bracket, rest = value.partition("[")
        return _GEOS.get(reason.strip(), reason) + bracket + rest
    if key in ("kinds", "allowed", "v"):
        return _WORDS.get(value, value.replace(" or ", " 或 ").replace(", ", "、"))
    return value


def text(english: str) -> str:
    """Return one piece of the validator's report (a title, what was checked, a finding's message) in Chinese.

    Parameters
    ----------
    english : str
        The text as the validator words it.

    Returns
    -------
    str
        The Chinese template of the first :data:`PATTERNS` entry that matches the whole text, its groups
        filled in; the text unchanged when none does.
    """
    for pattern, zh in _COMPILED:
        m = pattern.fullmatch(english)
        if m is not None:
            return zh.format(**{k: _group(k, v or "") for k, v in m.groupdict().items()})
    return english
