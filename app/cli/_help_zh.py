"""The Chinese text of `gridmap --lang zh`: every help screen (by command path and option name), the commands' own lines."""

from __future__ import annotations

import re

from app import settings


def _env(name: str) -> str:
    """:func:`app.settings.describe` in Chinese: ``[环境变量 GRIDMAP_NAME，默认 VALUE]``."""
    m = re.fullmatch(r"\[env (?P<env>\S+), default (?P<default>.*)\]", settings.describe(name))
    if m is None:  # a changed wording: shown as it is rather than lost
        return settings.describe(name)
    default = "未设置" if m["default"] == "unset" else m["default"]
    return f"[环境变量 {m['env']}，默认 {default}]"


#: click's own words in help screens (the help and version options' help).
CLICK: dict[str, str] = {
    "Show this message and exit.": "显示本帮助并退出。",
    "Show the version and exit.": "显示版本号并退出。",
}

#: click's words in a usage line (``Usage: gridmap [OPTIONS] COMMAND [ARGS]...``).
USAGE: dict[str, str] = {
    "[OPTIONS]": "[选项]",
    "COMMAND [ARGS]...": "命令 [参数]...",
}

_DATA_DIR = f"地理数据文件夹 {_env('DATA_DIR')}。"
_SINCE = "只要在此日期当天或之后创建的事件（YYYY-MM-DD，UTC）。"
_UNTIL = "只要在此日期之前创建的事件（YYYY-MM-DD，UTC）。"
_STATUS = "只保留这些状态的事件（可重复）；open 表示除已结案（closed）和已驳回（rejected）外的所有状态。"
_PERIOD = "再按周期分行（日、周、月、季度、年）。"
_PASSWORD = (f"至少 PASSWORD_MIN_LENGTH 个字符 {_env('PASSWORD_MIN_LENGTH')}，不能包含用户名，"
             "不能是常见或容易猜到的密码。")

#: Each command's help (its docstring) in Chinese, keyed by its path below `gridmap` ("" is the group).
#: The first sentence is the command's line in its group's list; ``\b`` blocks are printed as written.
COMMANDS: dict[str, str] = {
    "": """gridmap：网格化治理的网格地图服务。

提供地图与接口服务，生成和检查地理数据，查询地址和坐标所在的网格，分析设施覆盖。""",

    "assets": "前端第三方文件（Leaflet、插件、Bootstrap、Font Awesome），由本服务自己提供，不用 CDN。",
    "assets install": "把锁定版本的前端文件安装到 app/web/static/vendor/（XStatic 包取自 PyPI，其余用 npm pack 获取）。",
    "assets list": "列出锁定版本的前端文件：名称、版本、许可证、来源，以及是否已安装。",

    "coverage": """分析设施服务范围内的居民数和面积（覆盖率），并写出文件。

\b
示例：
  gridmap coverage --preset circle_15min --out circle15.xlsx
  gridmap coverage --require library:1000 --require tcm_clinic:800 --out two.csv
  gridmap coverage --category bus_stop --radius 300 --out bus300.geojson""",

    "demo-data": "生成合成的嘉峪关示范城市（613 个网格，以及设施、门牌地址和道路）。",

    "events": "网格事件：上报、办理流程、统计和处理范围。",
    "events assign": "给账号 ACCOUNT 指定处理范围：--grid、--committee、--division、--department 四者选其一。",
    "events export": """把事件写入 OUT：每个事件一行，含所在网格、各环节时间、是否超期和办结时长。

上报人及其电话和照片一律不导出。""",
    "events list": "列出事件，最新的在前（全部事件：本命令以管理员身份运行）。",
    "events report": "把统计报表（事件数、按期率、平均和 P90 办结时长）写成 XLSX 或 PDF。",
    "events scopes": "列出处理范围（账号 ACCOUNT 的，或所有人的）。",
    "events stats": "按状态统计事件数、按期率、平均和 P90 办结时长（小时），按区域、职能部门或事件类别分行。",

    "import": """检查文件 FILE，并把它作为图层 LAYER 存入新的数据版本（被拒绝时退出码为 1，数据不变）。

与当前数据相同的 FILE 不产生新版本。导入后，超出 GRIDMAP_KEEP_VERSIONS 的旧版本会被删除（回滚到过的版本保留）。

FILE 可以是 GeoJSON、GeoPackage、压缩的 Shapefile（读取 .prj；自动识别 GBK/GB18030 编码的 .dbf），或带经纬度列
（经度/纬度，或在列名中注明坐标系的 经度(GCJ-02)）或 WKT 列的 CSV/XLSX。列按中文或英文列名识别（网格编码、所属社区、
户数 ……）；其他列作为附加属性保留。检查报告逐条列出问题，并指明要素和位置。

门牌地址图层（addresses）的 FILE 可以是没有完整地址列的标准地址库：地址由各部分（道路/小区、门牌号、楼栋）组合而成，
地址类型随之推断，所在网格由坐标确定，街道/社区与该网格的核对；按单元分行的记录合并到所在楼栋。
别名取自别名列（别名、曾用名、简称）、名为“别名”的工作表，以及 --aliases FILE。""",

    "init-city": """从 SOURCE（网格办文件所在的文件夹或 .zip）建立新城市的数据存储（建立城市数据）。

每个文件所属的图层按文件名（网格/grid、社区/村/committee、街道/镇/division、设施/facility、地址/address、
道路/road）或内容识别；字段按中文或英文列名识别。没有单独文件的社区（村）和街道（镇）由网格的“所属社区”“所属街道”列生成。
`gridmap import` 的各项检查全部适用；被拒绝时逐条列出问题（文件、要素、字段），不写入任何内容。

\b
示例：
  gridmap init-city office/ --store stores/hewan --table-crs gcj02 --dry-run
  gridmap init-city office/ --store stores/hewan --table-crs gcj02
  GRIDMAP_STORE_URL=stores/hewan gridmap serve""",

    "locate": """以 JSON 输出坐标或地址所在的网格（不在任何网格内时 grid.code 为 null）。

坐标的结果给出最近的标准地址（nearest_address，距离 distance_m 按本市的度量坐标系计算）。地址的结果给出匹配到的
标准地址（matched_address）、匹配方式（match_kind：exact 精确、normalised 规范化后相同、fuzzy 模糊、
ambiguous 有歧义、not_found 未找到）和得分；有歧义时列出候选地址，不确定网格。

\b
示例：
  gridmap locate --lon 98.29 --lat 39.77
  gridmap locate --lon 98.2951 --lat 39.7760 --crs gcj02
  gridmap locate --address 甘肃省嘉峪关市新华路十二号2单元301室""",

    "locate-batch": """把 CSV/XLSX/Parquet/GeoParquet 文件 IN 的每一行落到网格，结果写入 --out。

IN 含经纬度列、点几何（GeoParquet）或地址列；CSV 可以是 UTF-8、带 BOM 的 UTF-8 或 GB18030（中文 Windows 上的
Excel 导出）。CSV 和 Parquet 分块流式处理（--chunk-rows），内存占用不随文件大小增长；进度输出到 stderr（--quiet
关闭）。每一行都保留，并附上所在网格、状态（ok 成功、ambiguous 有歧义、outside 不在网格内、not_found 未找到、
invalid 无效）、地址行匹配到的标准地址及匹配方式和得分、坐标行最近的标准地址，以及需要留意的行的说明（经纬度颠倒、
其他坐标系、模糊匹配、无效行）；`gridmap --lang zh locate-batch …` 用中文写这些说明。

使用 --engine dask 时，IN 是一个文件夹（或多个文件），其中是列相同的 CSV/Parquet 分区，--out 是一个文件夹，
每个分区得到一个同名的结果文件（扩展名随 --geoparquet，否则与分区相同）。分区在由 --workers 个进程组成的本地集群上
处理，或在 --scheduler 指定的集群上处理：集群的工作进程须安装相同的 gridmap，并能以相同路径访问 IN 和 --out
（共享磁盘）；数据版本只向每个工作进程发送一次。

IN 和结果受与网页上已登录工作人员相同的限制（GRIDMAP_MAX_UPLOAD_MB、GRIDMAP_BATCH_MAX_ROWS、
GRIDMAP_BATCH_MAX_COLUMNS、GRIDMAP_BATCH_MAX_CELL_CHARS、GRIDMAP_BATCH_MAX_UNPACKED_MB、
GRIDMAP_BATCH_MAX_RESPONSE_MB），使用 --engine dask 时按每个分区计。

\b
示例：
  gridmap locate-batch people.csv --out people-grids.csv
  gridmap locate-batch points.csv --out points-grids.csv --columns basic
  gridmap locate-batch points.parquet --out points.geoparquet --chunk-rows 500000
  gridmap locate-batch parts/ --engine dask --workers 2 --out results/
  gridmap locate-batch parts/ --engine dask --scheduler tcp://10.0.0.5:8786 --out results/""",

    "rebalance": """在一个社区（村）内（或一个街道（镇）的每个社区内）提出新的网格划分，使每个网格的户数落在指定范围内。

社区沿道路切成街块，相邻的街块组合成新网格（只有整街块无法满足户数范围时，才把街块切成地址单元）。新网格沿用它
覆盖面积最大的旧网格的编码。没有任何划分能满足户数范围时，给出找到的最优方案、每个网格超出或不足的户数及原因。

\b
示例：
  gridmap rebalance --committee 620201002004
  gridmap rebalance --committee 620201002004 --households 300-500 --out proposal.geojson
  gridmap rebalance --division 620201002 --out division.pdf""",

    "recommend": """推荐新设施的选址（MCLP、LSCP 或 p-中位模型，由 HiGHS 求解），并写出文件。

\b
示例：
  gridmap recommend --category bus_stop --radius 500 --add 5 --out bus.geojson
  gridmap recommend --category park --radius 500 --objective lscp --out parks.xlsx
  gridmap recommend --preset circle_15min --add 3 --out circle15.pdf""",

    "rollback": "回滚：重新启用先前存储的数据版本 VERSION（版本 ID、序号或唯一的前缀）。",

    "serve": """运行网页服务：在 granian 下运行 GRIDMAP_WORKERS 个进程（每核一个），或一个 waitress 进程。

有多个工作进程时，数据、其索引和地址匹配器在派生工作进程之前加载一次，由所有进程共享；每个工作进程在
GRIDMAP_VERSION_CHECK_MS 毫秒内启用新的数据版本（经由该进程导入时立即启用）。

空闲和慢速的客户端不会挡住其他人：最多 GRIDMAP_CONNECTION_LIMIT 个连接，静默的连接在 GRIDMAP_CHANNEL_TIMEOUT
秒后关闭，每个请求须在 GRIDMAP_REQUEST_TIMEOUT 秒内到达。无法提供服务的数据（缺少图层或字段、编码重复、编码指向
不存在的上级）会使服务在启动时停止，列出问题并以退出码 1 退出。""",

    "settings": "列出每项设置及其环境变量、默认值和说明（从不显示密钥等机密值）。",

    "store": "版本化数据存储本身：在文件夹和 PostGIS 数据库之间复制。",
    "store migrate": """把数据存储 SOURCE 逐个版本复制到 TARGET（数据迁移）。

SOURCE 和 TARGET 是文件夹（GeoJSON 存储）或 postgresql://user@host/db 形式的 URL（PostGIS 数据库；密码取自
URL、PGPASSWORD 或 ~/.pgpass）。每个数据版本保留其图层、元数据、作者、说明和计数；目标的当前版本是源当前版本的副本。
除非使用 --force，目标必须为空。进度输出到 stderr；迁移记入审计日志。

\b
示例：
  gridmap store migrate instance/store postgresql://gridmap@localhost/gridmap
  GRIDMAP_STORE_URL=postgresql://gridmap@localhost/gridmap gridmap serve
  gridmap store migrate postgresql://gridmap@localhost/gridmap backup/store --current-only""",

    "users": """登录账号：职能部门办理事件，工作人员可查看网格员联系方式，管理员可导入、回滚和管理账号。

账号保存在应用数据库中：GRIDMAP_DATABASE_URL，否则为数据存储所在的 PostgreSQL 数据库，否则为
INSTANCE_DIR/gridmap.sqlite3。""",
    "users add": "创建账号 NAME。",
    "users list": "列出账号（并在 stderr 上显示账号所在的数据库，不含其密码）。",
    "users passwd": "设置账号 NAME 的密码（使其所有会话退出登录，并解除锁定）。",
    "users remove": "删除账号 NAME（不会删除最后一个管理员）。",
    "users role": """给账号 NAME 换一个角色 ROLE（使其所有会话退出登录；不会降级最后一个管理员）。

ROLE：department（部门）、staff（工作人员）或 admin（管理员）。""",

    "validate": """检查地理数据文件夹 FOLDER（默认 geodata）并输出报告；有问题时退出码为 1。

编码规则以文件夹中 metadata.json 声明的为准（city.code_scheme）：只有 cn-9-12-15 规则下才检查 9/12/15 位编码
和网格编号；其他规则下编码须唯一，且其上级须存在。""",

    "versions": "列出已存储的数据版本，最新的在前（* 标出正在使用的版本）。",
}

#: A command's line in its group's list where the first sentence of its help is too long for it.
SHORT: dict[str, str] = {
    "assets": "前端第三方文件，由本服务自己提供。",
    "assets install": "安装锁定版本的前端文件。",
    "demo-data": "生成合成的嘉峪关示范城市。",
    "events assign": "给账号指定处理范围。",
    "events export": "导出事件（CSV、XLSX 或 GeoJSON）。",
    "events report": "写出事件统计报表（XLSX 或 PDF）。",
    "events stats": "事件统计：状态、按期率、办结时长。",
    "import": "检查文件并作为图层存入新的数据版本。",
    "init-city": "从网格办的文件建立新城市的数据存储。",
    "locate": "查询坐标或地址所在的网格（JSON 输出）。",
    "locate-batch": "把表格文件的每一行落到网格。",
    "rebalance": "按户数范围提出新的网格划分。",
    "recommend": "推荐新设施的选址（MCLP、LSCP、p-中位）。",
    "rollback": "回滚到先前存储的数据版本。",
    "serve": "运行网页服务。",
    "settings": "列出每项设置及其环境变量、默认值和说明。",
    "users": "登录账号：部门、工作人员和管理员。",
    "users list": "列出账号及其所在的数据库。",
    "users passwd": "设置账号的密码。",
    "users role": "给账号换一个角色。",
    "validate": "检查地理数据文件夹并输出报告。",
    "versions": "列出已存储的数据版本。",
}

#: Each option's help in Chinese, keyed by (command path, the option's longest name); click's own options
#: (--help, --version) are in :data:`CLICK`.
PARAMS: dict[tuple[str, str], str] = {
    ("", "--lang"): "帮助、用法错误、拒绝信息和进度的语言（zh：中文）；不指定时帮助为英文，拒绝信息按核心的原文输出。",

    ("assets install", "--force"): "即使已经安装，也重新安装全部文件。",

    ("coverage", "--category"): "设施类别（可重复，多个类别的设施合并计算），如 bus_stop。",
    ("coverage", "--preset"): ("规划预设：bus_stop、park、circle_5min、circle_10min、circle_15min；每类所需设施各按"
                               "自己的距离计算（与 --category/--radius 同用时则合并计算）。"),
    ("coverage", "--require"): "一类所需设施及其距离，如 library:1000（可重复；每一类都须在服务范围内）。",
    ("coverage", "--radius"): "--category 的服务距离（米）（与 --preset 同用时：预设的各类设施合并按此半径计算）。",
    ("coverage", "--mode"): "直线距离（按数据的度量坐标系，嘉峪关为 EPSG:4542），或沿道路网的步行距离。",
    ("coverage", "--by"): "csv、geojson 和 zip 输出中统计表的层级（网格、社区、街道或全市）。",
    ("coverage", "--target"): "每类所需设施的目标居民覆盖率（百分比；none 表示不设目标；默认取预设的）。",
    ("coverage", "--out"): "输出文件；扩展名决定格式：.csv .xlsx .geojson .gpkg .zip（Shapefile） .pdf",
    ("coverage", "--lang"): "XLSX 工作簿、PDF 报告和本命令摘要行的语言（默认：命令组的 gridmap --lang，未指定时为 zh）。",
    ("coverage", "--unit"): "仅用于 PDF：只出一个区域的报告，committee:CODE 或 division:CODE，而不是全市的。",
    ("coverage", "--data-dir"): _DATA_DIR,

    ("demo-data", "--out"): "写入 GeoJSON 图层的文件夹（不存在时自动创建）。",
    ("demo-data", "--seed"): "随机种子；种子相同，生成的文件逐字节相同。",

    ("events assign", "--grid"): "该账号是此网格的网格员（第一处理人）。",
    ("events assign", "--committee"): "该账号负责此社区（村）（可查看其事件）。",
    ("events assign", "--division"): "该账号负责此街道（镇）（可查看其事件）。",
    ("events assign", "--department"): "该账号属于此职能部门（按名称）。",
    ("events assign", "--remove"): "改为收回该处理范围。",
    ("events assign", "--data-dir"): _DATA_DIR,
    ("events export", "--format"): "文件格式；默认由 OUT 的扩展名决定（.csv、.xlsx、.geojson）。",
    ("events export", "--status"): _STATUS,
    ("events export", "--since"): _SINCE,
    ("events export", "--until"): _UNTIL,
    ("events export", "--data-dir"): _DATA_DIR,
    ("events list", "--status"): _STATUS,
    ("events list", "--grid"): "只保留一个网格的事件（网格编码）。",
    ("events list", "--overdue"): "只列出超过当前环节时限的未结事件。",
    ("events list", "--since"): _SINCE,
    ("events list", "--data-dir"): _DATA_DIR,
    ("events report", "--format"): "文件格式；默认由 OUT 的扩展名决定（.xlsx、.pdf）。",
    ("events report", "--by"): "按网格、社区（村）、街道（镇）、职能部门或事件类别分行。",
    ("events report", "--period"): _PERIOD,
    ("events report", "--since"): _SINCE,
    ("events report", "--until"): _UNTIL,
    ("events report", "--data-dir"): _DATA_DIR,
    ("events scopes", "--data-dir"): _DATA_DIR,
    ("events stats", "--period"): _PERIOD,
    ("events stats", "--since"): _SINCE,
    ("events stats", "--until"): _UNTIL,
    ("events stats", "--out"): "把统计表以 CSV 写到这里，而不是输出到屏幕。",
    ("events stats", "--data-dir"): _DATA_DIR,

    ("import", "--crs"): "FILE 未注明坐标系（或注明有误）时使用的坐标系：EPSG 代码（4326、4490、4542 ……）、gcj02 或 bd09。",
    ("import", "--dry-run"): "只检查并报告，不存储。",
    ("import", "--repair"): "修复无效的几何（自相交、未闭合的环），而不是拒绝。",
    ("import", "--field"): "从 FILE 的 SOURCE 列读取字段 TARGET（可重复），如 --field code=网格号；优先于按列名识别的结果。",
    ("import", "--aliases"): ("仅用于门牌地址：别名表 CSV/XLSX（曾用名、简称），含标准名称列（标准名称）和别名列（别名），"
                              "每行一个别名。"),

    ("init-city", "--store"): "城市版本化数据存储的新文件夹（须不存在或为空），或空 PostGIS 数据库的 postgresql:// URL。",
    ("init-city", "--name"): ("地址中书写的城市名称，如 河湾市（默认：映射文件中 [city] 的名称、metadata.json 中的名称，"
                              "或 SOURCE 的名称）。"),
    ("init-city", "--table-crs"): ("CSV/XLSX 表中坐标的坐标系（表头未注明时）：gcj02、bd09、4326（WGS84）、"
                                   "4490（CGCS2000）或任意 EPSG 代码。"),
    ("init-city", "--mapping"): '映射文件（TOML 或 JSON）：[city]、[files."NAME"] layer/crs、[fields.LAYER] target = "column"。',
    ("init-city", "--field"): "从 SOURCE 列读取字段 TARGET，如 code=网格号 或 grids.code=网格号（可重复）。",
    ("init-city", "--dry-run"): "输出识别结果和每个问题；不写入任何内容。",
    ("init-city", "--repair"): "修复无效的几何和细小的缝隙碎片，而不是拒绝。",
    ("init-city", "--json"): "以 JSON 而不是文本输出建库计划。",

    ("locate", "--lon"): "经度（投影坐标系 --crs 下为东坐标 x）。",
    ("locate", "--lat"): "纬度（投影坐标系 --crs 下为北坐标 y）。",
    ("locate", "--crs"): "--lon/--lat 的坐标系：EPSG 代码（4326、4490、4542 ……）、gcj02（高德、腾讯）或 bd09（百度）。",
    ("locate", "--address"): "中文地址，如 嘉峪关市新华路12号。",
    ("locate", "--limit"): "列出的候选地址数。",
    ("locate", "--data-dir"): _DATA_DIR,

    ("locate-batch", "--out"): ("结果文件：.csv（带 BOM 的 UTF-8，可用 Excel 打开）、.xlsx、.geojson、.parquet（经纬度列）"
                                "或 .geoparquet（点几何）；使用 --engine dask 或 IN 为文件夹时，是一个文件夹。"),
    ("locate-batch", "--crs"): "坐标列的坐标系：EPSG 代码、gcj02 或 bd09 [默认：EPSG:4326，或 GeoParquet 文件自身的坐标系]。",
    ("locate-batch", "--grids"): "在这个网格 GeoJSON/GeoPackage 文件中定位，而不是用当前服务的数据。",
    ("locate-batch", "--lon-col"): "经度列（默认按列名识别：lon、lng、经度 ……）。",
    ("locate-batch", "--lat-col"): "纬度列（默认按列名识别：lat、纬度 ……）。",
    ("locate-batch", "--address-col"): "地址列（默认按列名识别：address、地址 ……）。",
    ("locate-batch", "--geoparquet"): "向 .parquet 写入 GeoParquet（WKB 点几何和 geo 元数据）。",
    ("locate-batch", "--chunk-rows"): "每次读取、定位和写出的行数；内存占用随它增长，而不随文件大小增长 [默认：50000]。",
    ("locate-batch", "--engine"): "local：在本进程中处理；dask：在 dask.distributed 集群上处理 IN 的各个分区。",
    ("locate-batch", "--scheduler"): "用于 --engine dask：已在运行的调度器，如 tcp://10.0.0.5:8786（默认：本地集群）。",
    ("locate-batch", "--workers"): "用于 --engine dask：本地集群的工作进程数，每个进程一个线程 [默认：2]。",
    ("locate-batch", "--columns"): (
        "full：全部结果列。basic：只输出输入列及 grid_code、grid_name、committee_code、division_code、status 和 "
        "message（取值与 full 相同），速度快几倍：不含社区（村）/街道（镇）名称、不在任何网格内的行的最近网格（其说明只写"
        "“不在任何网格内”）、最近的标准地址、GCJ-02/BD-09 坐标系检查、on_border、distance_m、地址匹配各列和 "
        "lon_wgs84/lat_wgs84；写出 .csv、.parquet 或 .xlsx 单个文件（不能与 --engine dask 同用）。"),
    ("locate-batch", "--quiet"): "不在 stderr 上输出进度。",
    ("locate-batch", "--data-dir"): _DATA_DIR,

    ("rebalance", "--committee"): "要重新划分的社区（村），如 620201002004。",
    ("rebalance", "--division"): "代替 --committee：重新划分此街道（镇）的每个社区（村）（逐个单独划分）。",
    ("rebalance", "--households"): "每个网格的目标户数范围（常引用的城市网格标准为 300-500 户）。",
    ("rebalance", "--out"): ("写出方案：.geojson（完整的网格图层，另有重新指定网格编码的 <stem>.addresses.geojson 和 "
                             "<stem>.facilities.geojson，可供导入）、.zip（三个图层和各步骤）、.xlsx（表格）"
                             "或 .pdf（带地图的报告）。"),
    ("rebalance", "--time-limit"): f"求解器最多可用的秒数 {_env('OPTIMISE_TIME_LIMIT')}。",
    ("rebalance", "--renumber"): ("把新网格按自西向东、自北向南编号为 001、002 ……，而不是沿用它们覆盖面积最大的旧网格的编码"
                                  "（工作人员仍按旧编码工作）。"),
    ("rebalance", "--lang"): "XLSX 工作簿、PDF 报告和输出说明的语言（默认：命令组的 gridmap --lang，未指定时为 zh）。",
    ("rebalance", "--data-dir"): _DATA_DIR,

    ("recommend", "--category"): "要新增的设施类别，如 bus_stop。",
    ("recommend", "--preset"): "覆盖预设（如 circle_15min）：为其中每类所需设施推荐选址。",
    ("recommend", "--radius"): "服务半径（米）（与 --preset 同用时：代替每类设施自己的半径）。",
    ("recommend", "--add"): "新增站点数（每类）；lscp 不使用。",
    ("recommend", "--mode"): "直线距离（按数据的度量坐标系），或沿道路网的步行距离。",
    ("recommend", "--candidates"): "候选点：沿道路的点、门牌地址点，或一个含点位的 CSV/XLSX/GeoJSON 文件。",
    ("recommend", "--spacing"): "道路候选点的间距（米）。",
    ("recommend", "--crs"): "候选点文件的坐标系（如 gcj02、bd09、EPSG:4542）。",
    ("recommend", "--objective"): "mclp：新覆盖的居民最多；lscp：用最少的站点覆盖全部；pmedian：平均距离最短。",
    ("recommend", "--time-limit"): "求解时限（秒）（默认：设置 OPTIMISE_TIME_LIMIT）。",
    ("recommend", "--out"): "输出文件：.geojson（选址点）、.xlsx 或 .pdf。",
    ("recommend", "--lang"): "工作簿、报告和摘要的语言（默认：命令组的 gridmap --lang，未指定时为 zh）。",
    ("recommend", "--data-dir"): _DATA_DIR,

    ("serve", "--host"): f"监听的地址 {_env('HOST')}。",
    ("serve", "--port"): f"监听的端口 {_env('PORT')}。",
    ("serve", "--data-dir"): f"要提供服务的地理数据文件夹 {_env('DATA_DIR')}。",

    ("store migrate", "--current-only"): "只复制当前版本（默认：复制已存储的每个版本）。",
    ("store migrate", "--force"): "复制到已有数据版本的目标中（副本排在已有版本之后）。",
    ("store migrate", "--json"): "以 JSON 输出结果（版本 ID：源 -> 目标）。",

    ("users add", "--role"): "角色：department 部门（办理交给它的事件）；staff 工作人员（可查看网格员联系方式）；"
                             "admin 管理员（导入、回滚、管理账号）。",
    ("users add", "--password"): f"密码（不给出时提示输入，输入不显示）：{_PASSWORD}",
    ("users passwd", "--password"): f"新密码（不给出时提示输入，输入不显示）：{_PASSWORD}",

    ("validate", "--expected-grids"): ("本市应有的网格数；0 表示不检查数量。默认：文件夹中 metadata.json 记录的网格数"
                                       "（未记录时不检查数量）。"),
}

#: The commands' own refusals, progress lines (from the core's ``progress`` callbacks) and result lines
#: (:func:`app.cli._base.echo`) in Chinese: a pattern of the English text and its Chinese wording (named
#: groups are kept as they are, but a ``layers`` group gets the layers' Chinese names). Read by
#: :func:`app.cli._base.text_zh`; a text no pattern matches is printed as it is.
MESSAGES: tuple[tuple[str, str], ...] = (
    # refusals
    (r"give --lon and --lat, or --address", "请给出 --lon 和 --lat，或 --address"),
    (r"give either --lon/--lat or --address, not both", "--lon/--lat 和 --address 只能给出其一"),
    (r"unknown preset (?P<p>'.*'); expected one of (?P<list>.+)", "未知的预设 {p}；可选：{list}"),
    (r"give --require, or --category with --radius, not both", "--require 与 --category/--radius 只能给出其一"),
    (r"give --category \(one or more\), --require or --preset", "请给出 --category（一个或多个）、--require 或 --preset"),
    (r"give --radius in metres \(or --preset\)", "请给出 --radius（米），或 --preset"),
    (r"give committee:CODE or division:CODE", "请给出 committee:代码 或 division:代码"),
    (r"(?P<f>.+) is not a folder", "{f} 不是文件夹"),
    (r"(?P<o>'.*') is not TARGET=SOURCE \(e\.g\. code=网格号\)", "{o} 不是“目标字段=来源字段”的形式（如 code=网格号）"),
    (r"(?P<s>.+) is a plain GeoJSON folder without versions", "{s} 是没有版本的普通 GeoJSON 文件夹"),
    (r"give --committee CODE or --division CODE \(one of them\)", "请给出 --committee 代码 或 --division 代码（二者之一）"),
    (r"unknown format (?P<f>'.*'); use \.geojson, \.zip, \.xlsx or \.pdf", "未知的格式 {f}；请用 .geojson、.zip、.xlsx 或 .pdf"),
    (r"candidate file (?P<f>.+) not found", "找不到候选点位文件 {f}"),
    (r"cannot listen on (?P<a>\S+): (?P<why>.+); stop the other server or choose another --port",
     "无法在 {a} 上监听：{why}；请停止另一个服务，或换一个 --port"),
    # progress
    (r"preparing grids, addresses and facilities", "正在准备网格、地址和设施"),
    (r"straight-line distances to (?P<cats>.+)", "正在计算到 {cats} 的直线距离"),
    (r"area within reach of every required kind", "正在计算每类所需设施都可达的面积"),
    (r"covered area per grid", "正在计算每个网格的覆盖面积"),
    (r"building the walking network", "正在构建步行路网"),
    (r"walking distances on (?P<n>\d+) nodes / (?P<s>\d+) segments", "正在计算步行距离（{n} 个节点，{s} 条路段）"),
    (r"snapping (?P<n>\d+) area sample points \(spacing (?P<sp>\S+) m\)", "正在把 {n} 个面积采样点接到路网（间距 {sp} 米）"),
    (r"aggregating by grid, committee, division and city", "正在按网格、社区（村）、街道（镇）和全市汇总"),
    (r"writing (?P<fmt>\S+) to (?P<path>.+)", "正在写出 {fmt}：{path}"),
    (r"drawing the map", "正在绘制地图"),
    (r"writing the tables", "正在写入表格"),
    (r"drawing the chart", "正在绘制图表"),
    (r"coverage before and after", "正在计算选址前后的覆盖率"),
    (r"candidate sites", "正在生成候选点位"),
    (r"demand and existing (?P<cat>\S+) \((?P<mode>[^)]+)\)", "正在准备需求点和现有设施 {cat}（{mode}）"),
    (r"pairs within (?P<r>\S+) m: (?P<d>\d+) demand points × (?P<c>\d+) candidates",
     "{r} 米内的配对：{d} 个需求点 × {c} 个候选点位"),
    (r"solving (?P<obj>\S+) with HiGHS \(time limit (?P<t>\S+) s\)", "正在用 HiGHS 求解 {obj}（时限 {t} 秒）"),
    (r"reading (?P<name>.+)", "正在读取 {name}"),
    (r"checking (?P<layer>\S+) \((?P<name>.+)\)", "正在检查 {layer}（{name}）"),
    (r"deriving committees and divisions from the grids", "正在由网格推导社区（村）和街道（镇）"),
    (r"(?P<n>\d+) roads", "{n} 条道路"),
    (r"(?P<n>\d+) addresses", "{n} 个地址"),
    (r"(?P<n>\d+) facilities", "{n} 个设施"),
    (r"(?P<a>\d+) divisions, (?P<b>\d+) committees, (?P<c>\d+) grids", "{a} 个街道（镇），{b} 个社区（村），{c} 个网格"),
    (r"\[(?P<i>\d+/\d+)\] (?P<a>\S+) -> (?P<b>\S+): (?P<layers>.*)", "[{i}] {a} -> {b}：{layers}"),
    (r"current version: (?P<want>\S+) \(as (?P<cur>\S+) in the source\)", "当前版本：{want}（源中为 {cur}）"),
    (r"ok +(?P<what>.+)", "已有     {what}"),
    (r"install +(?P<what>.+)", "安装     {what}"),
    # results and summaries (app.cli._base.echo)
    (r"import refused: (?P<n>\d+) errors; nothing was changed", "导入被拒绝：{n} 个错误，未做任何更改"),
    (r"dry run: the file passes the checks; nothing was stored", "试运行：文件通过检查，未保存任何内容"),
    (r"no change: identical to the current version \((?P<v>\S+)\); nothing was stored",
     "没有变化：与当前版本（{v}）相同，未保存任何内容"),
    (r"stored as version (?P<v>\S+): (?P<s>.*)", "已保存为版本 {v}：{s}"),
    (r"now serving version (?P<v>\S+): (?P<s>.*)", "现在提供版本 {v}：{s}"),
    (r"added (?P<role>\S+) (?P<name>.+)", "已添加账户 {name}（角色 {role}）"),
    (r"removed (?P<name>.+)", "已删除账户 {name}"),
    (r"password of (?P<name>.+) changed", "已更改账户 {name} 的密码"),
    (r"(?P<name>.+) is now (?P<role>\S+)", "账户 {name} 的角色现在是 {role}"),
    (r"账户数据库 accounts database: (?P<db>.+)", "账户数据库：{db}"),
    (r"(?P<name>\S+ *) (?P<role>\S+ *) created (?P<c>.+?)  updated (?P<u>.+)", "{name} {role} 创建于 {c}  更新于 {u}"),
    (r"已迁移 / copied (?P<n>\d+) version\(s\) from (?P<s>.+?) to (?P<t>.+); current version (?P<v>\S+)",
     "已迁移 {n} 个版本：{s} → {t}；当前版本 {v}"),
    (r"init-city 已拒绝 refused: 未写入任何内容 nothing was written", "init-city 已拒绝：未写入任何内容"),
    (r"试运行 dry run: 检查通过，未写入任何内容 the files pass the checks; nothing was written", "试运行：检查通过，未写入任何内容"),
    (r"已建立 / built store (?P<s>.+): (?P<counts>.*) \(version (?P<v>\S+)\)", "已建立数据存储 {s}：{counts}（版本 {v}）"),
    (r"下一步 next: (?P<cmd>.+)", "下一步：{cmd}"),
    (r"installed (?P<n>\d+) asset\(s\) into (?P<d>.+)", "已安装 {n} 个前端文件到 {d}"),
    (r"all (?P<n>\d+) assets already installed in (?P<d>.+)", "{n} 个前端文件都已安装在 {d}"),
    (r"(?P<row>.+ \S+:\S+ +)installed", "{row}已安装"),
    (r"(?P<row>.+ \S+:\S+ +)MISSING", "{row}缺失"),
    (r"gridmap: (?P<city>.+) · (?P<store>.+) \(version (?P<v>\S+)\): (?P<layers>.*)", "gridmap：{city} · {store}（版本 {v}）：{layers}"),
    (r"gridmap: serving on (?P<url>\S+) with (?P<n>\d+) worker processes \((?P<kind>[^)]+)\)  \(Ctrl\+C to stop\)",
     "gridmap：在 {url} 上提供服务，{n} 个工作进程（{kind}）（按 Ctrl+C 停止）"),
    (r"gridmap: serving on (?P<url>\S+) with 1 process \(waitress\)  \(Ctrl\+C to stop\)",
     "gridmap：在 {url} 上提供服务，1 个进程（waitress）（按 Ctrl+C 停止）"),
)
