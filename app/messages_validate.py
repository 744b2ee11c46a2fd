"""Chinese text of the reports of the checks (`gridmap --lang zh validate`, `import`, `init-city`): English pattern ->
Chinese template."""

from __future__ import annotations

from app.messages import Catalog

#: Layer keys and their singular words as the Chinese report names them (``layer``/``layers``/``parent`` groups).
_LAYERS = {"divisions": "街道（镇）", "committees": "社区（村）", "grids": "网格", "facilities": "设施",
           "addresses": "地址", "roads": "道路", "division": "街道（镇）", "committee": "社区（村）"}
#: Other words a group may hold (``kinds``, ``allowed``, ``v``), in Chinese.
_WORDS = {"none": "无", "empty": "空", "str": "文本", "int": "整数", "float": "数值", "community": "社区",
          "village": "村", "text": "文本", "a number": "数字", "a whole number": "整数", "a name or a number": "名称或数字"}
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
    # reading files (app.geo._import_readers, _import_geojson, _import_archive)
    (r"the \.cpg names an unknown encoding (?P<e>.+); detecting it from the \.dbf", ".cpg 指定了未知的编码 {e}；改由 .dbf 判断"),
    (r"the \.dbf code page byte does not say GBK, but the text decodes as GB18030",
     ".dbf 的代码页字节并非 GBK，但文字可按 GB18030 解码"),
    (r"the \.dbf is neither UTF-8 nor GB18030; read it as Latin-1", ".dbf 既不是 UTF-8 也不是 GB18030；按 Latin-1 读取"),
    (r"the file has no layer (?P<l>.+); its layers are (?P<kinds>.*)", "文件中没有图层 {l}；其图层为 {kinds}"),
    (r"(?P<n>\d+) rows; at most (?P<m>\d+) allowed", "{n} 行，最多允许 {m} 行"),
    (r"(?P<n>\d+) features; at most (?P<m>\d+) allowed", "{n} 个要素，最多允许 {m} 个"),
    (r"the file is (?P<n>\d+) bytes; the limit is (?P<m>\d+)", "文件有 {n} 字节，上限为 {m}"),
    (r"the file is empty", "文件为空"),
    (r"a Shapefile is several files: .*", "Shapefile 由多个文件组成：请上传包含 .shp、.shx、.dbf 和 .prj（如有 .cpg 也一并）的 .zip"),
    (r"the archive holds no Shapefile \(\.shp\) and not exactly one .*",
     "压缩包中没有 Shapefile（.shp），也不是恰好一个 .geojson、.gpkg、.csv 或 .xlsx 文件"),
    (r"GDAL cannot open the file \((?P<why>.*)\)", "GDAL 无法打开文件（{why}）"),
    (r"the file holds no layers", "文件中没有图层"),
    (r"GDAL cannot read layer (?P<l>.+) \((?P<why>.*)\)", "GDAL 无法读取图层 {l}（{why}）"),
    (r"the file's coordinate system has no EPSG code \((?P<c>.*)\); give it with --crs",
     "文件的坐标系没有 EPSG 代码（{c}）；请用 --crs 指定"),
    (r"the feature has no geometry", "该要素没有几何"),
    (r"the geometry is empty", "几何为空"),
    (r"cannot read the table \((?P<why>.*)\)", "无法读取表格（{why}）"),
    (r"cannot open the file \((?P<why>.*)\)", "无法打开文件（{why}）"),
    (r"no coordinate columns: .*\(columns: (?P<cols>.*)\)",
     "没有坐标列：请命名为 lon/lat（经度/纬度）或 x/y，或提供 WKT 列（现有列：{cols}）"),
    (r"the columns (?P<c>.+) say (?P<crs>.+): the coordinates are read as (?P<crs2>.+)", "列 {c} 指明了 {crs}：坐标按 {crs2} 读取"),
    (r"(?P<shp>.+) comes without (?P<parts>.+); zip all the parts of the Shapefile",
     "{shp} 缺少 {parts}；请把 Shapefile 的各部分一起压缩"),
    (r"the Shapefile has no \.prj; its coordinate system must be given or is guessed", "Shapefile 没有 .prj；须指定坐标系，否则将推测"),
    (r"the file holds several layers \((?P<kinds>.*)\); name one of them (?P<w>.+)", "文件中有多个图层（{kinds}）；请指定其一 {w}"),
    (r"the (?P<c>.+) cell is empty", "{c} 单元格为空"),
    (r"(?P<c>.+) is empty", "{c} 为空"),
    (r"not a GeoPackage \(no SQLite header\)", "不是 GeoPackage（没有 SQLite 文件头）"),
    (r"the archive holds several shapefiles \((?P<kinds>.*)\); name one of them (?P<w>.+)",
     "压缩包中有多个 Shapefile（{kinds}）；请指定其一 {w}"),
    (r"unreadable geometry \((?P<why>.*)\)", "几何无法读取（{why}）"),
    (r"unreadable WKT \((?P<why>.*)\)", "WKT 无法读取（{why}）"),
    (r"(?P<c>.+) = (?P<x>.+), (?P<y>.+) is not a pair of numbers", "{c} = {x}, {y} 不是一对数字"),
    (r"a coordinate is NaN or infinite", "有坐标为 NaN 或无穷大"),
    (r"the file's \"crs\" member is malformed", "文件的 \"crs\" 成员格式错误"),
    (r"not GeoJSON: the top level is a JSON (?P<t>\S+), not an object", "不是 GeoJSON：顶层是 JSON {t}，不是对象"),
    (r"the file names a coordinate system that is not known: (?P<why>.*)", "文件指定的坐标系无法识别：{why}"),
    (r"the JSON is nested too deeply to be GeoJSON", "JSON 嵌套过深，不可能是 GeoJSON"),
    (r"not valid JSON: (?P<why>.*)", "不是有效的 JSON：{why}"),
    (r"the FeatureCollection has no \"features\" list", "FeatureCollection 没有 \"features\" 列表"),
    (r"not a GeoJSON FeatureCollection or Feature \(type is (?P<t>.*)\)", "不是 GeoJSON 的 FeatureCollection 或 Feature（type 为 {t}）"),
    (r"not a GeoJSON Feature object", "不是 GeoJSON 的 Feature 对象"),
    (r"\"properties\" is not an object", "\"properties\" 不是对象"),
    (r"the file is not UTF-8; read it as GB18030", "文件不是 UTF-8；按 GB18030 读取"),
    (r"the file is neither UTF-8 nor GB18030 text", "文件既不是 UTF-8 也不是 GB18030 文本"),
    (r"the archive holds (?P<n>\d+) members; at most (?P<m>\d+) allowed", "压缩包内有 {n} 个文件，最多允许 {m} 个"),
    (r"the archive unpacks to (?P<n>\d+) bytes; the limit is (?P<m>\d+)", "压缩包解压后有 {n} 字节，上限为 {m}"),
    (r"not a readable zip archive \((?P<why>.*)\)", "不是可读的 zip 压缩包（{why}）"),
    (r"refused: its name holds a NUL character", "已拒绝：文件名含 NUL 字符"),
    (r"refused: its path is absolute and would leave the archive", "已拒绝：路径是绝对路径，会指向压缩包之外"),
    (r"refused: its path climbs out of the archive \(\.\.\)", "已拒绝：路径（..）指向压缩包之外"),
    (r"refused: it is a symbolic link", "已拒绝：它是符号链接"),
    (r"refused: it is encrypted", "已拒绝：它已加密"),
    (r"two members are both named (?P<a>.+) \((?P<b>.+)\)", "两个文件同名：{a}（{b}）"),
    (r"compressed (?P<a>\d+) bytes unpack to (?P<b>\d+) bytes \(ratio above (?P<r>\S+)\); refusing a probable zip bomb",
     "压缩的 {a} 字节解压为 {b} 字节（压缩比超过 {r}）；疑似 zip 炸弹，已拒绝"),
    (r"archives inside archives are not accepted", "不接受压缩包内的压缩包"),
    (r"cannot unpack \((?P<why>.*)\)", "无法解压（{why}）"),
    (r"a member unpacks to more bytes than its header declares or than the limit allows",
     "有文件解压后超过其文件头声明的大小或上限"),
    # coordinate systems (app.geo._import_crs)
    (r"no coordinate system in the file and none given, and the coordinates \(up to (?P<n>\S+)\) are not lon/lat; .*",
     "文件中没有坐标系，也未指定，且坐标（最大 {n}）不是经纬度；请指定坐标系，如 --crs EPSG:4542"),
    (r"no coordinate system in the file or given; assumed WGS84 \(EPSG:4326\)\. .*",
     "文件中没有坐标系，也未指定；已假定为 WGS84（EPSG:4326）。高德/腾讯的坐标是 GCJ-02，百度的是 BD-09：请用 --crs gcj02 或 bd09"),
    (r"the columns (?P<c>\S+) say (?P<crs>.+); using (?P<given>.+) as given", "列 {c} 指明为 {crs}；已按指定改用 {given}"),
    (r"the file says (?P<crs>.+); using (?P<given>.+) as given", "文件指明为 {crs}；已按指定改用 {given}"),
    (r"(?P<says>.+); using (?P<given>.+) as given", "{says}；已按指定改用 {given}"),
    (r"the coordinates cannot be converted from (?P<crs>.+) \((?P<why>.*)\)", "坐标无法从 {crs} 转换（{why}）"),
    (r"probable lat/lon swap: the coordinates fall in (?P<tail>.+) only with x and y exchanged",
     "经纬度可能颠倒：x 与 y 对调后坐标才落在{tail}"),
    (r"the area of use of (?P<crs>.+)", "{crs} 的适用范围内"),
    (r"the city's extent", "本市范围内"),
    (r"(?P<n>\d+) features lie outside China, where (?P<crs>.+) is WGS84 unchanged .*: (?P<shown>.*)",
     "{n} 个要素位于中国境外，在境外 {crs} 与 WGS84 相同（公开的算法只在中国境内偏移）：{shown}"),
    (r"coordinates out of range for (?P<crs>.+)", "坐标超出 {crs} 的范围"),
    (r"the feature lies far outside the area of use of (?P<crs>.+) \((?P<box>.+)\) after conversion: wrong coordinate system\?",
     "转换后该要素远在 {crs} 的适用范围（{box}）之外：坐标系是否有误？"),
    (r"the feature lies more than (?P<d>\S+)° from the city's grids after conversion from (?P<crs>.+): .*",
     "从 {crs} 转换后，该要素距本市网格超过 {d}°：坐标或坐标系是否有误？"),
    # aliases and standard-address lists (app.geo._import_aliases, _import_addresses)
    (r"aliases read from the sheet (?P<s>.+)", "已从工作表 {s} 读取别名"),
    (r"the alias file (?P<f>.+) names no 标准名称/别名 columns; read its columns (?P<a>.+) as the standard name and "
     r"(?P<b>.+) as the alias", "别名文件 {f} 没有 标准名称/别名 列；已把列 {a} 读作标准名称，{b} 读作别名"),
    (r"the alias file (?P<f>.+) needs a standard-name column .*; its columns are (?P<kinds>.*)",
     "别名文件 {f} 需要标准名称列（标准名称，name）和别名列（别名，alias）；其列为 {kinds}"),
    (r"(?P<n>\d+) roads or compounds have aliases \((?P<m>\d+) in all\), stored in aliases on their (?P<r>\d+) rows",
     "{n} 条道路或小区有别名（共 {m} 个），存入其 {r} 行的 aliases"),
    (r"the alias file (?P<f>.+) cannot be read: (?P<why>.*)", "别名文件 {f} 无法读取：{why}"),
    (r"the alias file (?P<f>.+) cannot be read \((?P<why>.*)\)", "别名文件 {f} 无法读取（{why}）"),
    (r"the sheet (?P<s>.+) cannot be read \((?P<why>.*)\)", "工作表 {s} 无法读取（{why}）"),
    (r"the alias (?P<a>.+) names several roads or compounds \((?P<n>.*)\): a lookup by it answers ambiguous",
     "别名 {a} 对应多条道路或小区（{n}）：用它查询会得到有歧义的结果"),
    (r"the sheet (?P<s>.+) has more than (?P<n>\d+) rows", "工作表 {s} 超过 {n} 行"),
    (r"(?P<a>.+) is no road or compound of the file; its alias (?P<b>.+) is not used", "{a} 不是文件中的道路或小区；其别名 {b} 未使用"),
    (r"the alias (?P<a>.+) of (?P<b>.+) is itself a standard name of the file; it is not used",
     "{b} 的别名 {a} 本身是文件中的标准名称；未使用"),
    (r"(?P<n>\d+) rows of units \(单元\) were merged into the (?P<m>\d+) buildings they belong to, one address each: "
     r"(?P<c>.+) summed, the first row's point kept; e\.g\. (?P<a>.+) takes (?P<b>.+)",
     "{n} 行单元（单元）已合并到所属的 {m} 栋楼，每栋一个地址：{c} 相加，保留第一行的点；如 {a} 合并了 {b}"),
    (r"the address of (?P<n>\d+) rows was composed from the columns (?P<c>.+): (?P<f>.+)", "{n} 行的地址由列 {c} 组成：{f}"),
    (r"the row has no (?P<w>.+)", "该行没有 {w}"),
    (r"(?P<c>.+) is (?P<v>.+), not a whole number: the address layer holds .*",
     "{c} 为 {v}，不是整数：地址图层只收 {{road}}{{number}}号 和 {{compound}}{{building}}号楼（不支持 附N号、甲/乙 和 N-M 门牌）"),
    (r"(?P<n>\d+) more rows name another 街道 or 社区 than their grid's", "另有 {n} 行填写的街道或社区与其网格的不同"),
    (r"the file gives no (?P<name>\S+) \((?P<zh>[^)]+)\): .*",
     "文件没有给出{zh}（{name}）：每个地址的 {name} 都为 0，在导入带 {name} 的名册之前，按 {name} 统计的覆盖将为空"),
    (r"address (?P<a>.+) is also (?P<b>.+?)(?P<tail>; units \(单元\) .*)?", "地址 {a} 与 {b} 重复{tail}"),
    (r"; units \(单元\) are not addresses of their own: give one row per building", "；单元不是独立的地址：请每栋楼给一行"),
    (r"(?P<c>.+) is (?P<v>.+), not a number, in a unit row to be summed into its building",
     "{c} 为 {v}，不是数字（该单元行要加总到所属的楼）"),
    (r"kind (?P<v>.+) is neither road \(道路\) nor compound \(小区\)", "kind {v} 既不是 road（道路）也不是 compound（小区）"),
    (r"(?P<c>.+) is (?P<v>.+) but the point lies in grid (?P<g>\S+) of (?P<s>.+)", "{c} 为 {v}，但该点位于 {s} 的网格 {g} 内"),
    # overlaps and gaps of an imported layer (app.geo._import_tiling)
    (r"overlaps (?P<c>.+?) by (?P<a>\S+) m² \(measured in (?P<crs>[^)]+)\)(?P<tail>;.*)?",
     "与 {c} 重叠 {a} 平方米（在 {crs} 中量算）{tail}"),
    (r"removed the (?P<a>\S+) m² \(measured in (?P<crs>[^)]+)\) it overlapped (?P<c>.+) by; that part stays in (?P<d>.+)",
     "已去掉它与 {c} 重叠的 {a} 平方米（在 {crs} 中量算）；这部分留在 {d}"),
    (r"gap of (?P<a>\S+) m² between (?P<layer>\S+) \(measured in (?P<crs>[^)]+)\)(?P<tail>;.*)?",
     "{layer}之间有 {a} 平方米的缝隙（在 {crs} 中量算）{tail}"),
    (r"added the gap of (?P<a>\S+) m² between (?P<layer>\S+) \(measured in (?P<crs>[^)]+)\) to it, .*",
     "已把{layer}之间 {a} 平方米的缝隙（在 {crs} 中量算）并入它，它是与缝隙共边最长的区域"),
    (r"; a sliver: run with --repair to leave it to one of them", "；是细小重叠：加 --repair 可将其留给其中之一"),
    (r"; a sliver: run with --repair to give it to a neighbour", "；是细小缝隙：加 --repair 可将其并入相邻区域"),
    (r"; the repair would leave no valid area", "；修复后将没有有效区域"),
    # init-city (app.geo.initcity, _initcity_*)
    (r"(?P<s>.+) does not exist / 来源不存在", "来源 {s} 不存在"),
    (r"no grid layer found: .*", "没有找到网格图层：请把文件命名为 网格/grid，或在对应文件中指定（[files.\"…\"] layer = \"grids\"）"),
    (r"two files for layer (?P<layer>\S+): (?P<a>.+) and (?P<b>.+); keep one, .*",
     "{layer}图层有两个文件：{a} 和 {b}；请保留一个，或在对应文件中说明各自是哪个图层"),
    (r"cannot tell which layer the polygons of (?P<f>.+) are: .*",
     "无法判断 {f} 中的多边形属于哪个图层：请命名为 网格/社区/街道，或在对应文件中设置其图层"),
    (r"an alias file was found but no address layer: its aliases are not used", "找到了别名文件，但没有地址图层：其别名未使用"),
    (r"cannot tell which layer (?P<f>.+) is \((?P<g>\S+) geometry; columns (?P<cols>.*)\): .*",
     "无法判断 {f} 属于哪个图层（{g} 几何；列 {cols}）：请命名为 网格/社区/街道/设施/地址/道路，或在对应文件中设置其图层"),
    (r"(?P<n>\d+) (?P<layer>\S+) made by joining the grids of each (?P<parent>\S+)(?P<tail>; codes generated .*)?",
     "由各{parent}的网格合并得到 {n} 个{layer}{tail}"),
    (r"; codes generated \((?P<c>.+)\)", "；已生成编码（{c}）"),
    (r"the grid names no committee \(社区/村\): .*", "该网格没有填写社区（村）：请提供社区名称或编码列，或社区（村）图层"),
    (r"… and (?P<n>\d+) more grids name no committee", "…… 另有 {n} 个网格没有填写社区（村）"),
    (r"the grids name no division \(街道/镇\); all committees are put in one division (?P<d>.+)",
     "网格没有填写街道（镇）；所有社区（村）都归入一个街道（镇）{d}"),
    (r"committee (?P<c>\S+) lies in division (?P<a>\S+) and in (?P<b>\S+)", "社区（村）{c} 同时位于街道（镇）{a} 和 {b}"),
    (r"the grid file has no grid code column .*", "网格文件没有网格编码列（网格编码 / code）：请在对应文件中指定（[fields.grids] code = \"…\"）、"
     "用 --field code=列名，或在对应文件中设置 generate_codes = true"),
    (r"the grid file has no code column; codes (?P<c>.+) were generated west to east, north to south within each committee",
     "网格文件没有编码列；已在每个社区（村）内自西向东、自北向南生成编码 {c}"),
    (r"the grid file has no name column; each grid is named by its code", "网格文件没有名称列；每个网格以其编码命名"),
    (r"category (?P<c>\S+) taken from the file name for every facility", "所有设施的类别都按文件名取为 {c}"),
    (r"(?P<n>\d+) category words were read as categories: (?P<cols>.*)", "{n} 个类别用词已读作类别：{cols}"),
    (r"the address file has no address column \(地址 / address\)", "地址文件没有地址列（地址 / address）"),
    (r"… and (?P<n>\d+) more addresses without a number were skipped", "…… 另有 {n} 个没有门牌号的地址被跳过"),
    (r"the grid names no (?P<parent>committee|division)", "该网格没有填写{parent}"),
    (r"the grid names (?P<parent>committee|division) (?P<n>.+), which the (?P<layer>\S+) layer holds more than once",
     "该网格填写的{parent} {n} 在{layer}图层中不止一个"),
    (r"the grid names (?P<parent>committee|division) (?P<n>.+), which the (?P<layer>\S+) layer does not hold",
     "该网格填写的{parent} {n} 不在{layer}图层中"),
    (r"the facility file has no category column .*", "设施文件没有类别列（类别 / category），其名称也看不出类别"),
    (r"(?P<w>mapping file|--field): (?P<t>\S+) = (?P<s>.+) names no column of the file; its columns are (?P<cols>.*)",
     "{w}：{t} = {s} 指向的列在文件中不存在；文件的列为 {cols}"),
    (r"the address (?P<a>.+) has no house or building number; the row is skipped", "地址 {a} 没有门牌号或楼号；该行已跳过"),
    (r"(?P<f>\S+) is (?P<v>.+), not (?P<kind>.+)", "{f} 为 {v}，不是{kind}"),
    (r"(?P<hidden>.+ has an? .+ at position \d+.*); removed", "{hidden}；已删除"),
    (r"(?P<layer>\S+) has no field (?P<f>.+); its fields are (?P<kinds>.+)", "{layer}图层没有字段 {f}；其字段为 {kinds}"),
    (r"the mapping (?P<t>\S+) = (?P<s>.+) names no column of the file; .*", "对应关系 {t} = {s} 指向的列在文件中不存在"),
    (r"column (?P<c>.+) is mapped to both (?P<a>\S+) and (?P<b>\S+)", "列 {c} 同时对应到 {a} 和 {b}"),
)

_CATALOG = Catalog(PATTERNS, lambda key, value: _group(key, value))


def _group(key: str, value: str) -> str:
    """A matched group as the Chinese template takes it: layer names and a few words in Chinese."""
    if key in ("hidden", "tail"):  # a hidden character's finding, a hint after ";": worded by their own patterns
        return text(value) if value else ""
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
    return _CATALOG.translate(english)
