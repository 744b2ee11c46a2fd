"""Chinese text for the core's refusals and batch row messages, keyed by the GridmapError ``code``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

#: Column and parameter names as the Chinese messages call them.
_NAMES = {"lon": "经度", "lat": "纬度", "x": "x 坐标", "y": "y 坐标", "address": "地址", "limit": "limit 参数",
          "radius": "radius 参数"}


def _name(text: str) -> str:
    return _NAMES.get(text, text)


#: Per code: (English pattern, Chinese template). Patterns are matched against the whole message
#: (after an optional ``<file name>: `` prefix); ``{name}`` groups go through :data:`_NAMES`.
PATTERNS: dict[str, tuple[tuple[str, str], ...]] = {
    "rollback.version": (
        (r"Name the version to roll back to.*",
         "请指定要回滚到的版本：查询参数 ?version= 或表单字段 version（版本号、序号或唯一前缀）。"),
    ),
    "recommend": (
        (r"unknown category (?P<v>.+?); expected one of (?P<c>.+)", "未知的设施类别 {v}，可选：{c}。"),
        (r"radius must be more than 0 and at most (?P<m>\S+) m, got (?P<v>.+)", "服务半径必须大于 0 且不超过 {m} 米（收到 {v}）。"),
        (r"add must be a whole number from 1 to (?P<m>\d+), got (?P<v>.+)", "新增站点数必须是 1 到 {m} 之间的整数（收到 {v}）。"),
        (r"add must be at most the number of candidate sites \((?P<n>\d+)\), got (?P<v>.+)", "新增站点数不能超过候选点数（{n}），收到 {v}。"),
        (r"(?P<f>.+?): the candidate file has no points", "{f}：候选点文件中没有点。"),
        (r"(?P<f>.+?): no coordinate columns .*", "{f}：候选点文件中没有坐标列（经度/纬度或 x/y）。"),
        (r"(?P<f>.+?): row (?P<r>\d+) has no numeric coordinates", "{f}：第 {r} 行没有数字坐标。"),
        (r"unknown output format (?P<v>.+?); use .+", "不支持的输出格式 {v}，请使用 .geojson、.xlsx 或 .pdf。"),
        (r"unknown objective (?P<v>.+?); expected .+", "未知的优化目标 {v}，可选：mclp、lscp、pmedian。"),
        (r"unknown preset (?P<v>.+?); expected one of (?P<c>.+)", "未知的预设 {v}，可选：{c}。"),
        (r"give a facility category \(with a radius\) or a preset", "请指定设施类别（及服务半径）或预设标准。"),
        (r"give a radius in metres", "请指定服务半径（米）。"),
        (r"there are no candidate sites", "没有候选点。"),
        (r"candidates from a file need the file", "请上传候选点文件。"),
    ),
    "request": (
        (r"give both lon and lat, or an address", "请同时给出经度和纬度，或填写地址。"),
        (r"give the place: .*", "请给出问题地点：使用手机定位、在地图上点选，或填写地址。"),
        (r"send a JSON object", "请求内容须为 JSON 对象。"),
        (r"(?P<name>lon|lat) must be a number", "{name}必须是数字。"),
        (r"limit and offset must be whole numbers", "limit 和 offset 必须是整数。"),
        (r"limit must be 1-1000 and offset at least 0", "limit 须在 1 到 1000 之间，offset 不能小于 0。"),
        (r"upload a CSV or XLSX file in the form field 'file'", "请选择要上传的 CSV 或 Excel 文件。"),
        (r"unknown format (?P<fmt>.+?); (?:use|expected one of) (?P<choices>.+)",
         "不支持的结果格式 {fmt}，可选：{choices}。"),
        (r"give lon and lat \(or x and y\)", "请同时提供经度和纬度（或 x 和 y）。"),
        (r"the JSON body must be an object", "JSON 请求体必须是对象。"),
        (r"limit must be a whole number(?:, got (?P<value>.+))?", "limit 必须是整数。"),
        (r"limit must be between (?P<a>\d+) and (?P<b>\d+)", "limit 必须在 {a} 到 {b} 之间。"),
        (r"limit must be from (?P<a>\d+) to (?P<b>\d+), got (?P<value>.+)", "limit 必须在 {a} 到 {b} 之间（收到 {value}）。"),
        (r"sign in as staff to use batch jobs.*", "批量定位需要以工作人员身份登录（GRIDMAP_BATCH_REQUIRE_SIGN_IN）。"),
        (r"sign in as (?P<role>\w+) first", "请先以 {role} 身份登录。"),
        (r"this needs the (?P<role>\w+) role", "此操作需要 {role} 角色。"),
        (r"the form has expired or did not come from this site.*", "表单已过期或并非来自本站（CSRF 令牌缺失或错误），请刷新页面后重试。"),
        (r"category is missing.*", "缺少设施类别：请给出一个或多个类别，如 category=bus_stop。"),
        (r"radius is missing.*", "缺少距离：请以米为单位给出，如 radius=500。"),
        (r"unknown level (?P<level>.+?); expected one of (?P<choices>.+)", "未知的统计层级 {level}，可选：{choices}。"),
        (r"the upload (?P<rest>.+)", "上传的文件过大。"),
        (r"choose the lon and lat columns, or the address column", "请同时选择经度列和纬度列，或选择地址列。"),
        (r"give both the lon and the lat column, or neither", "请同时选择经度列和纬度列，或都不选。"),
        (r"no batch job (?P<job>\S+).*", "找不到该批量任务（可能已过期），请重新上传文件。"),
        (r"the batch job (?P<job>\S+) is not finished yet", "批量任务尚未完成，请稍候。"),
        (r"too many batch jobs are running.*", "正在运行的批量任务过多，请稍后再试。"),
    ),
    "origin": (
        (r"refused: this request comes from (?P<origin>\S+) .*", "已拒绝：该请求来自 {origin}，而非本站。"),
    ),
    "locate": (
        (r"(?P<name>\w+) must be a number, got (?P<value>.+)", "{name}必须是数字，收到的是 {value}。"),
        (r"(?P<name>\w+) must be a finite number, got (?P<value>.+)", "{name}必须是有限的数字，收到的是 {value}。"),
        (r"(?P<name>\w+) is missing", "缺少{name}。"),
        (r"coordinates out of range: .*got (?P<x>\S+), (?P<y>\S+)",
         "坐标超出范围：经度应在 ±180 以内、纬度在 ±90 以内，收到 {x}, {y}。"),
        (r"coordinates (?P<x>\S+), (?P<y>\S+) are outside the valid area of (?P<crs>.+)",
         "坐标 {x}, {y} 不在 {crs} 的有效范围内。"),
        (r"address is empty", "地址为空。"),
        (r"address is longer than (?P<n>\d+) characters", "地址超过 {n} 个字符。"),
        (r"address (?P<text>.+) has no usable text after normalisation", "地址 {text} 规范化后没有可用的文字。"),
        (r"no lon/lat columns and no address column found.*",
         "未找到经纬度列或地址列：请将列命名为 经度/纬度（lon/lat）或 地址（address），或在页面上选择对应的列。"),
    ),
    "crs": (
        (r"unknown CRS (?P<crs>.+?): no such EPSG code", "未知的坐标系 {crs}：没有这个 EPSG 代码。"),
        (r"unknown CRS (?P<crs>.+?): expected EPSG:<code>.*",
         "未知的坐标系 {crs}：应为 EPSG:<代码>、EPSG 代码数字、wgs84、cgcs2000、gcj02 或 bd09。"),
        (r"unknown CRS (?P<crs>.+?): not an EPSG code", "未知的坐标系 {crs}：不是 EPSG 代码。"),
        (r"unknown CRS '': empty CRS name", "坐标系名称为空。"),
        (r"unknown CRS (?P<crs>.+?): expected a string or an EPSG code", "未知的坐标系 {crs}：应为文字或 EPSG 代码。"),
        (r"CRS (?P<crs>.+?) has no EPSG code; give it as EPSG:<code>", "坐标系 {crs} 没有 EPSG 代码，请写成 EPSG:<代码>。"),
    ),
    "table": (
        (r"the file is empty", "文件是空的。"),
        (r"file not found", "找不到文件。"),
        (r"is a folder, not a file", "这是文件夹，不是文件。"),
        (r"the header row is empty; .*", "表头行为空：第一行必须是列名。"),
        (r"no header row \(the first row holds only numbers: (?P<cells>.+)\); .*",
         "缺少表头行（第一行全是数字：{cells}）：请添加列名行，如 经度,纬度 或 地址。"),
        (r"UTF-16 text is not supported; .*", "不支持 UTF-16 文本，请另存为“CSV UTF-8”。"),
        (r"the file is binary, not CSV text", "这是二进制文件，不是 CSV 文本。"),
        (r"cannot decode the file as UTF-8 or GB18030 \(bad byte at offset (?P<at>\d+)\); .*",
         "无法按 UTF-8 或 GB18030 解码（第 {at} 字节有误），请另存为“CSV UTF-8”。"),
        (r"the file does not look like text .*", "文件不像文本（含控制字符），请另存为“CSV UTF-8”。"),
        (r"row (?P<row>\d+) has (?P<n>\d+) fields but the header has (?P<width>\d+)",
         "第 {row} 行有 {n} 个字段，而表头有 {width} 个。"),
        (r"not readable as CSV near line (?P<line>\d+) .*", "第 {line} 行附近无法按 CSV 读取。"),
        (r"legacy \.xls workbooks are not accepted .*", "批量定位不接受旧版 .xls 工作簿，请另存为 .xlsx 或 CSV。"),
        (r"this is an Excel workbook, not CSV text; .*", "这是 Excel 工作簿而不是 CSV 文本：请将扩展名改为 .xlsx 或导出 CSV。"),
        (r"unsupported file type (?P<ext>.+?); use (?P<choices>.+)", "不支持的文件类型 {ext}，可用：{choices}。"),
        (r"the workbook has no sheets", "工作簿中没有工作表。"),
        (r"the first sheet is empty", "第一个工作表是空的。"),
        (r"the workbook is encrypted; .*", "工作簿已加密，请去掉密码后另存。"),
        (r"not (?:a readable Excel|an XLSX) workbook.*", "不是可读取的 Excel 工作簿，请另存为 .xlsx 或 CSV。"),
        (r"binary \(\.xlsb\) and OpenDocument workbooks are not accepted; .*",
         "不接受二进制（.xlsb）或 OpenDocument 工作簿，请另存为 .xlsx。"),
        (r"(?P<role>lon|lat|address) column (?P<col>.+?) not found; columns are: (?P<cols>.*)",
         "找不到{role}列 {col}；文件的列为：{cols}。"),
        (r"give both the lon and the lat column, or neither", "请同时选择经度列和纬度列，或都不选。"),
        (r"cannot write GeoJSON: no lon/lat columns.*", "无法输出 GeoJSON：没有经纬度列。"),
        (r"the workbook .*", "工作簿结构异常，请在 Excel 中重新保存后再试。"),
    ),
    "batch": (
        (r"unknown engine (?P<engine>.+?); use one of (?P<choices>.+)", "未知的计算引擎 {engine}，可用：{choices}。"),
        (r"--scheduler and --workers go with --engine dask", "--scheduler 和 --workers 只能与 --engine dask 一起使用。"),
        (r"give --scheduler or --workers, not both", "请给出 --scheduler 或 --workers，不要同时给出。"),
        (r"cannot reach the Dask scheduler at (?P<addr>\S+) within (?P<s>\d+) s.*",
         "在 {s} 秒内无法连接 Dask 调度器 {addr}：请检查地址，并确认调度器（dask scheduler）正在运行。"),
        (r"no CSV or Parquet partitions in (?P<where>.+)", "{where} 中没有 CSV 或 Parquet 分区文件。"),
        (r"partition (?P<part>\S+) has other columns than (?P<first>\S+): .*",
         "分区 {part} 的列与 {first} 不同：所有分区必须有相同的列。"),
        (r"(?P<path>.+?): partitions must be CSV or Parquet files.*", "{path}：分区必须是 CSV 或 Parquet 文件。"),
        (r"two partitions have the same file name.*", "有两个分区文件同名，结果会相互覆盖。"),
        (r"--out (?P<out>.+?) is a file; give a folder for partitions", "--out {out} 是文件：分区结果需要一个文件夹。"),
        (r"cannot write (?P<name>.+?): unknown format (?P<ext>.+?); use one of (?P<choices>.+)",
         "无法写入 {name}：未知的格式 {ext}，可用：{choices}。"),
        (r"--geoparquet needs a \.parquet or \.geoparquet output, not (?P<ext>.+)",
         "--geoparquet 需要 .parquet 或 .geoparquet 输出文件，而不是 {ext}。"),
        (r"partition (?P<part>\S+) failed on the cluster: .*", "分区 {part} 在集群上处理失败。"),
    ),
    "table.limit": (
        (r"(?P<what>.+?) is (?P<size>[\d.]+ \w+); at most (?P<max>[\d.]+ \w+) are accepted(?P<anon> without signing in)?"
         r" \((?P<setting>\w+)\)", "文件大小为 {size}，{anon}最多接受 {max}（{setting}）。"),
        (r"the file has (?:more than )?(?P<rows>\d+) rows; at most (?P<max>\d+) are accepted(?P<anon> without signing in)?"
         r" \((?P<setting>\w+)\)", "文件行数过多，{anon}最多接受 {max} 行（{setting}）。"),
        (r".*? (?P<cols>\d+) columns; at most (?P<max>\d+) are accepted.*\((?P<setting>\w+)\)",
         "文件有 {cols} 列，最多接受 {max} 列（{setting}）。"),
        (r"row (?P<row>\d+) has a cell of .* characters; at most (?P<max>\d+) are accepted.*\((?P<setting>\w+)\)",
         "第 {row} 行有单元格超过 {max} 个字符（{setting}）。"),
        (r"the workbook unpacks to (?P<size>[\d.]+ \w+); at most (?P<max>[\d.]+ \w+) are accepted.*\((?P<setting>\w+)\)",
         "工作簿解压后为 {size}，最多接受 {max}（{setting}）。"),
        (r"the result would be larger than (?P<max>[\d.]+ \w+), .*\((?P<setting>\w+)\)",
         "结果将超过可发送的上限 {max}（{setting}）：请拆分文件，或选择体积最小的 CSV 格式。"),
        (r"a sheet of the workbook spans (?P<rows>\d+) rows; at most (?P<max>\d+) .*\((?P<setting>\w+)\)",
         "工作表有 {rows} 行，最多接受 {max} 行（{setting}）。"),
        (r".*\((?P<setting>\w+)\)", "工作簿超出限制（{setting}）。"),
    ),
    "features": (
        (r"no collection (?P<cid>.+)", "没有要素集合 {cid}。"),
        (r"collection (?P<cid>.+?) has no feature (?P<fid>.+)", "要素集合 {cid} 中没有要素 {fid}。"),
        (r"(?P<name>\w+) must be an integer, got (?P<value>.+)", "{name} 必须是整数，收到 {value}。"),
        (r"(?P<name>\w+) must be at least (?P<min>\S+), got (?P<value>.+)", "{name} 至少为 {min}，收到 {value}。"),
        (r"bbox needs 4 \(or 6\) comma-separated numbers, got (?P<n>\d+)", "bbox 需要 4 个（或 6 个）逗号分隔的数字，收到 {n} 个。"),
        (r"bbox must be comma-separated numbers, got (?P<value>.+)", "bbox 必须是逗号分隔的数字，收到 {value}。"),
        (r"bbox: .*", "bbox 的范围有误。"),
        (r"unknown property (?P<name>.+?); queryable: (?P<choices>.+)", "未知属性 {name}，可查询：{choices}。"),
        (r"cannot sort by (?P<name>.+?); sortable: (?P<choices>.+)", "不能按 {name} 排序，可排序：{choices}。"),
        (r"unsupported (?P<param>\S+) (?P<value>.+?); supported: (?P<choices>.+)", "不支持的 {param} {value}，可用：{choices}。"),
    ),
    "rebalance": (
        (r"households must be a band LOW-HIGH of whole numbers, e.g\. 300-500, got (?P<value>.+)",
         "户数范围须写成“下限-上限”的整数，例如 300-500，收到 {value}。"),
        (r"households must lie between (?P<a>\d+) and (?P<b>\d+), got (?P<value>.+)",
         "户数须在 {a} 到 {b} 之间，收到 {value}。"),
        (r"households band (?P<value>\S+) is empty: .*", "户数范围 {value} 无效：下限不能大于上限。"),
        (r"give one committee code or one division code", "请给出一个社区（村）编码或一个街道（镇）编码。"),
        (r"unknown committee (?P<code>.+)", "没有编码为 {code} 的社区（村）。"),
        (r"unknown division (?P<code>.+)", "没有编码为 {code} 的街道（镇）。"),
        (r"division (?P<code>\S+) has no committees", "街道（镇）{code} 下没有社区（村）。"),
        (r"committee (?P<code>\S+) has no addresses with households to rebalance",
         "社区（村）{code} 没有带户数的地址，无法调整网格。"),
        (r"unknown format (?P<fmt>.+?); (?:use|expected one of) (?P<choices>.+)",
         "不支持的格式 {fmt}，可选：{choices}。"),
    ),
    "tiles": (
        (r"unknown tile layer (?P<name>.+?); expected one of (?P<choices>.+)", "没有图层 {name}，可用：{choices}。"),
        (r"zoom (?P<z>\S+) out of range (?P<range>\S+)", "缩放级别 {z} 超出范围 {range}。"),
        (r"tile (?P<t>\S+) lies outside the world", "瓦片 {t} 超出世界范围。"),
        (r"unknown datum (?P<d>.+?); expected one of (?P<choices>.+)", "不支持的坐标基准 {d}，可用：{choices}。"),
        (r"no grid has the code (?P<code>.+)", "没有编码为 {code} 的网格。"),
    ),
    "viewprint": (
        (r"parameter (?P<p>\S+) must be .*", "参数 {p} 有误。"),
        (r"parameter bbox or view is required", "请给出 bbox 或 view 参数。"),
        (r"parameter (?P<p>\S+) names an unknown (?P<what>\S+) (?P<v>.+?)(?:;.*)?", "参数 {p} 中的 {v} 不存在。"),
        (r"parameter sel names no (?P<k>\S+) with the code (?P<c>.+)", "没有编码为 {c} 的要素（参数 sel）。"),
    ),
    "search": (
        (r"the search query q is empty", "请输入搜索内容。"),
        (r"the search query is longer than (?P<n>\d+) characters", "搜索内容不能超过 {n} 个字符。"),
        (r"limit must be between (?P<a>\d+) and (?P<b>\d+)", "limit 必须在 {a} 到 {b} 之间。"),
    ),
    "basemap.file": (
        (r"BASEMAP=local needs BASEMAP_FILE.*", "BASEMAP=local 需要设置 BASEMAP_FILE（.mbtiles 或 .pmtiles 底图文件的路径）。"),
        (r"(?P<f>.+?): the basemap file does not exist", "{f}：底图文件不存在。"),
        (r"(?P<f>.+?): neither an MBTiles \(SQLite\) nor a PMTiles file", "{f}：不是 MBTiles（SQLite）或 PMTiles 文件。"),
        (r"(?P<f>.+?): not a readable (?P<k>MBTiles|PMTiles) file .*", "{f}：无法读取的 {k} 文件。"),
        (r"(?P<f>.+?): the MBTiles file holds no tiles", "{f}：MBTiles 文件中没有瓦片。"),
        (r"(?P<f>.+?): holds vector tiles \(pbf\).*", "{f}：文件中是矢量瓦片（pbf），本地底图需要栅格瓦片（png、jpg 或 webp）。"),
        (r"(?P<f>.+?): unknown tile format (?P<v>.+?); expected .+", "{f}：不支持的瓦片格式 {v}，需要 png、jpg 或 webp。"),
        (r"(?P<f>.+?): reading PMTiles needs the pmtiles package.*", "{f}：读取 PMTiles 需要安装 pmtiles 软件包。"),
    ),
    "basemap.tile": (
        (r"the basemap has no tile (?P<t>\S+).*", "底图中没有瓦片 {t}。"),
        (r"the basemap's tiles are \.(?P<a>\w+), not \.(?P<b>.+)", "底图瓦片格式是 .{a}，不是 .{b}。"),
        (r"no local basemap is configured.*", "未配置本地底图（BASEMAP=local 与 BASEMAP_FILE）。"),
    ),
    "store.busy": ((r".*", "数据正在被另一项操作修改，请稍后再试。"),),
    "store.read_only": ((r".*", "数据为只读，无法修改。"),),
    "events.captcha": (
        (r"answer the captcha.*", "请填写验证码（图中算式的结果）。"),
        (r"the captcha has expired.*", "验证码已过期，请换一题。"),
        (r"the captcha is not valid.*", "验证码无效，请换一题。"),
        (r"the captcha was used already.*", "验证码已使用过，请换一题。"),
        (r"the captcha answer is wrong", "验证码答案不正确。"),
    ),
    "events.rate": (
        (r"too many reports from this address \(at most (?P<v>.+?)\); try again in (?P<n>\d+) s",
         "上报过于频繁（上限 {v}），请在 {n} 秒后再试。"),
    ),
    "events": (
        (r"unknown category (?P<v>.+?); expected one of (?P<c>.+)", "未知的事件类别 {v}，可选：{c}。"),
        (r"the description is empty", "请填写事件描述。"),
        (r"the note is empty", "请填写说明。"),
        (r"the description is longer than (?P<m>\d+) characters \((?P<n>\d+)\)", "事件描述不能超过 {m} 个字（现有 {n} 个）。"),
        (r"the note is longer than (?P<m>\d+) characters \((?P<n>\d+)\)", "说明不能超过 {m} 个字（现有 {n} 个）。"),
        (r"the (?P<state>\w+) code is empty", "请填写{state}代码。"),
        (r"the (?P<state>\w+) code is longer than (?P<m>\d+) characters \((?P<n>\d+)\)", "{state}代码不能超过 {m} 个字符。"),
        (r"phone (?P<v>.+?) is not a mainland mobile number .*", "电话 {v} 不是有效的大陆手机号（1 开头的 11 位数字）。"),
        (r"report_key must be .*", "report_key 须为 8 到 80 个字母、数字或 _.:- 字符（每次上报一个，重试时沿用）。"),
        (r"no photo (?P<n>\S+) of event (?P<v>\S+)", "事件 {v} 没有第 {n} 张照片。"),
        (r"no event (?P<v>.+)", "没有事件 {v}，或无权查看。"),
        (r"sign in to (?P<action>\S+) an event", "请先登录，再{action}事件。"),
        (r"(?P<who>.+?) may not (?P<action>\S+) event (?P<v>\S+)", "{who} 无权对事件 {v} 执行“{action}”。"),
        (r"event (?P<v>\S+) is (?P<state>\w+): (?P<action>\w+) is not allowed in this state",
         "事件 {v} 当前为“{state}”，不能执行“{action}”。"),
        (r"unknown action (?P<v>.+?); expected one of (?P<c>.+)", "未知的操作 {v}，可选：{c}。"),
        (r"give a reason: one of (?P<c>.+)", "请选择驳回理由：{c}。"),
        (r"unknown department (?P<v>.+?); expected one of none: .*", "未知的部门 {v}：尚无部门，请先为账号指定所属部门。"),
        (r"unknown department (?P<v>.+?); expected one of (?P<c>.+)", "未知的部门 {v}，可选：{c}。"),
        (r"address (?P<a>.+?) does not resolve to one grid \((?P<s>\w+)\) \(closest: (?P<c>.+)\); .*",
         "地址 {a} 无法确定所在网格（相近地址：{c}），请填写更完整的地址或在地图上选点。"),
        (r"address (?P<a>.+?) does not resolve to one grid \((?P<s>\w+)\); .*",
         "地址 {a} 无法确定所在网格，请填写更完整的地址或在地图上选点。"),
        (r"the point (?P<p>.+?) is outside every grid; the nearest grid is (?P<g>\S+) at (?P<m>\S+) m",
         "坐标 {p} 不在任何网格内，最近的网格是 {g}，相距 {m} 米。"),
        (r"the point (?P<p>.+?) is outside every grid", "坐标 {p} 不在任何网格内。"),
        (r"give the place: .*", "请提供地点：地址，或坐标 x、y（非 WGS84 时注明坐标系）。"),
        (r"photo (?P<n>\d+) is larger than (?P<m>\d+) MB", "第 {n} 张照片超过 {m} MB。"),
        (r"photo (?P<n>\d+) is empty", "第 {n} 张照片为空。"),
        (r"photo (?P<n>\d+) is not a JPEG, PNG, WebP or GIF image \(by its content\)",
         "第 {n} 张照片不是 JPEG、PNG、WebP 或 GIF 图片（按内容判断）。"),
        (r"photo (?P<n>\d+) has more than (?P<m>\d+) pixels", "第 {n} 张照片像素过多（超过 {m}）。"),
        (r"photo (?P<n>\d+) is not a readable image", "第 {n} 张照片无法读取。"),
        (r"at most (?P<m>\d+) photos, got (?P<n>\d+)", "最多 {m} 张照片，收到 {n} 张。"),
        (r"give the account", "请指定账号。"),
        (r"unknown scope (?P<v>.+?); expected one of (?P<c>.+)", "未知的范围类型 {v}，可选：{c}。"),
        (r"no (?P<state>grid|committee|division) (?P<v>.+) in the current data", "当前数据中没有{state} {v}。"),
        (r"unknown status (?P<v>.+?); expected open or one of (?P<c>.+)", "未知的状态 {v}，可选：open（未结）或 {c}。"),
        (r"unknown grouping (?P<v>.+?); expected one of (?P<c>.+)", "未知的统计分组 {v}，可选：{c}。"),
        (r"unknown period (?P<v>.+?); expected one of (?P<c>.+)", "未知的统计周期 {v}，可选：{c}。"),
        (r"unknown level (?P<v>.+?); expected grid or committee", "未知的层级 {v}，可选：grid、committee。"),
        (r"unknown export format (?P<v>.+?); expected one of (?P<c>.+)", "不支持的导出格式 {v}，可选：{c}。"),
        (r"give a time as YYYY-MM-DD.*", "时间格式应为 YYYY-MM-DD 或 YYYY-MM-DDTHH:MM。"),
    ),
    "store.unavailable": ((r".*", "无法连接数据存储所在的数据库，请稍后再试。"),),
    "database": ((r"cannot reach database (?P<d>.+?): .*", "无法连接数据库 {d}，请稍后再试。"),),
    "database.busy": ((r"the database is busy.*", "数据库正忙，请稍后再试。"),),
    "users": (
        (r"cannot remove the last admin", "不能删除最后一个管理员账户。"),
        (r"cannot demote the last admin", "不能降低最后一个管理员账户的角色。"),
        (r"you cannot remove your own account", "不能删除自己的账户。"),
        (r"you cannot change your own role", "不能更改自己的角色。"),
        (r"user (?P<u>.+) already exists", "账户 {u} 已存在。"),
        (r"no user (?P<u>.+)", "没有账户 {u}。"),
        (r"user name must be 2-64 .*", "用户名须为 2-64 个字母、数字、汉字或 _ . @ -。"),
        (r"role must be one of (?P<c>.+), got (?P<v>.+)", "角色必须是 {c} 之一（收到 {v}）。"),
        (r"password must be at least (?P<n>\d+) characters.*", "密码至少需要 {n} 个字符（GRIDMAP_PASSWORD_MIN_LENGTH）。"),
        (r"password is longer than (?P<n>\d+) characters", "密码不能超过 {n} 个字符。"),
        (r"password must not contain the user name (?P<u>.+)", "密码不能包含用户名 {u}。"),
        (r"password is one of the most common passwords.*", "这是最常见的密码之一，请换一个。"),
        (r"password is too easy to guess .*", "密码太容易被猜到，请用更长的、由不常见的词、数字和符号组成的密码。"),
    ),
    "store.migrate": (
        (r"source and target are the same store: (?P<s>.+)", "源与目标是同一个数据存储：{s}。"),
        (r"the source (?P<s>.+?) holds no data version to copy", "源 {s} 中没有可复制的数据版本。"),
        (r"the target (?P<t>.+?) is read-only", "目标 {t} 为只读。"),
        (r"the target (?P<t>.+?) already holds data \(version (?P<v>.+?)\);.*",
         "目标 {t} 已有数据（版本 {v}）；请选择空的目标，或用 --force 把副本追加在其版本之后。"),
        (r"the source (?P<s>.+?) is not a folder or a store URL", "源 {s} 既不是目录，也不是数据存储的 URL。"),
    ),
}

#: Per code: what the refusal is about, said in Chinese, for messages no pattern covers.
GENERIC: dict[str, str] = {
    "error": "请求未能完成",
    "request": "请求参数有误",
    "origin": "请求来源不被接受",
    "locate": "无法定位",
    "crs": "坐标系有误",
    "table": "文件无法读取",
    "table.limit": "文件超出限制",
    "batch": "批量任务无法运行",
    "store": "数据存储出错",
    "store.busy": "数据正忙",
    "store.read_only": "数据为只读",
    "store.unavailable": "数据存储暂不可用",
    "store.migrate": "数据迁移未能完成",
    "database": "数据库暂不可用",
    "database.busy": "数据库正忙",
    "settings": "设置有误",
    "users": "账号操作未能完成",
    "operation": "操作未能完成",
    "coverage": "覆盖分析参数有误",
    "rebalance": "网格调整参数有误",
    "recommend": "选址推荐参数有误",
    "report": "报告未能生成",
    "features": "要素查询有误",
    "features.collection": "没有这个要素集合",
    "features.item": "没有这个要素",
    "features.f": "不支持的输出格式",
    "features.filter": "筛选条件有误",
    "import.field": "字段有误",
    "import.refused": "导入被拒绝",
    "init_city": "城市初始化未能完成",
    "init_city.refused": "城市初始化被拒绝",
    "data.check": "数据检查未通过",
    "assets": "静态资源缺失",
    "tiles": "地图瓦片请求有误",
    "viewprint": "打印地图的参数有误",
    "search": "搜索请求有误",
    "basemap.file": "底图文件无法读取",
    "basemap.tile": "底图中没有这块瓦片",
    "auth.basic": "身份验证失败",
    "rollback.confirm": "请确认回滚",
    "rollback.version": "请指定要回滚到的版本",
    "events": "事件请求有误",
    "events.not_found": "没有这个事件",
    "events.forbidden": "无权处理这个事件",
    "events.state": "当前状态下不能执行这个操作",
    "events.location": "事件地点不在任何网格内",
    "events.photo": "照片不被接受",
    "events.captcha": "验证码有误",
    "events.rate": "上报过于频繁，请稍后再试",
}

#: HTTP errors without a GridmapError (werkzeug's, the rate limiter's), by status.
HTTP: dict[int, tuple[str, str]] = {
    400: ("请求有误。", "Bad request."),
    401: ("请先登录。", "Please sign in."),
    403: ("没有权限。", "Not allowed."),
    404: ("页面或资源不存在。", "Not found."),
    405: ("不支持该请求方法。", "Method not allowed."),
    413: ("上传的文件太大。", "The upload is too large."),
    429: ("请求过于频繁，请稍后再试。", "Too many requests; try again shortly."),
    500: ("服务器内部错误，已记录。", "Internal error; it has been logged."),
}

#: Batch row messages of :func:`app.geo.locate.locate_frame`: English pattern -> Chinese template.
ROW_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"missing or non-numeric coordinates", "坐标缺失或不是数字"),
    (r"coordinates out of range", "坐标超出范围"),
    (r"coordinates outside the valid area of (?P<crs>.+)", "坐标不在 {crs} 的有效范围内"),
    (r"empty address", "地址为空"),
    (r"closest: (?P<list>.+)", "相近地址：{list}"),
    (r"no similar address", "没有相近的地址"),
    (r"ambiguous: (?P<list>.+)", "地址有歧义，请从候选中选择：{list}"),
    (r"fuzzy match: (?P<address>.+) \(score (?P<score>[\d.]+)\)", "模糊匹配：{address}（得分 {score}）"),
    (r"lat/lon swapped, read as lat,lon", "经纬度顺序颠倒，已按 纬度,经度 解读"),
    (r"outside every grid", "不在任何网格内"),
    (r"outside every grid, nearest grid (?P<code>\S+) at (?P<m>[\d.]+) m", "不在任何网格内，最近网格 {code}，相距 {m} 米"),
    (r"read as GCJ-02 \(AMap, Tencent\) it falls in grid (?P<code>\S+), check the coordinate system",
     "按 GCJ-02（高德、腾讯）坐标解读则落在网格 {code} 内，请检查坐标系"),
    (r"read as BD-09 \(Baidu\) it falls in grid (?P<code>\S+), check the coordinate system",
     "按 BD-09（百度）坐标解读则落在网格 {code} 内，请检查坐标系"),
    (r"read as WGS84 it falls in grid (?P<code>\S+), check the coordinate system",
     "按 WGS84（GPS）坐标解读则落在网格 {code} 内，请检查坐标系"),
)

_CJK = re.compile(r"[\u3400-\u9fff]")


class Catalog:
    """English texts matched whole by patterns, each worded by a Chinese template whose groups ``fill`` words.

    The one mechanism behind the core's refusals (:data:`PATTERNS`), batch row messages, the CLI's
    own lines (``app.cli._base.text_zh``) and the check reports (``app.messages_validate``).

    Parameters
    ----------
    pairs : iterable of (str, str), or a callable returning them
        (English pattern, Chinese template) pairs, tried in order; a callable is read on first use
        (a catalog whose module loads lazily).
    fill : callable, optional
        ``fill(group_name, text)`` gives a matched group's text as the template takes it; by
        default the text itself (an unmatched optional group is ``""``).
    """

    def __init__(self, pairs: Iterable[tuple[str, str]] | Callable[[], Iterable[tuple[str, str]]],
                 fill: Callable[[str, str], str] | None = None) -> None:
        self._pairs = pairs
        self._fill = fill
        self._compiled: list[tuple[re.Pattern[str], str]] | None = None

    def match(self, text: str) -> str | None:
        """``text`` worded by the first pattern that matches all of it, or None when none does."""
        if self._compiled is None:
            pairs = self._pairs() if callable(self._pairs) else self._pairs
            self._compiled = [(re.compile(p, re.S), zh) for p, zh in pairs]
        fill = self._fill
        for pattern, zh in self._compiled:
            m = pattern.fullmatch(text)
            if m is not None:
                groups = {k: v or "" for k, v in m.groupdict().items()}
                return zh.format(**({k: fill(k, v) for k, v in groups.items()} if fill else groups))
        return None

    def translate(self, text: str) -> str:
        """``text`` worded by the catalog, else unchanged."""
        found = self.match(text)
        return text if found is None else found


#: Grid events' states, actions and scope kinds in Chinese (``state``/``action`` groups of the patterns).
_EVENT_WORDS = {"reported": "已上报", "accepted": "已受理", "escalated": "已吹哨", "handled": "已处置",
                "verified": "已核查", "closed": "已结案", "rejected": "已驳回", "accept": "受理", "reject": "驳回",
                "escalate": "吹哨", "decline": "退单", "handle": "处置", "return": "退回重办", "verify": "核查", "close": "结案",
                "grid": "网格", "committee": "社区（村）", "division": "街道（镇）", "department": "部门"}

def _word(key: str, text: str) -> str:
    """A matched group as the Chinese templates take it: names, event words, "when not signed in"."""
    if key in ("name", "role", "what"):
        return _name(text)
    if key in ("state", "action"):  # grid events: state, action and scope words
        return _EVENT_WORDS.get(text, text)
    if key == "anon":
        return "未登录时" if text else ""
    return text


_CATALOGS = {code: Catalog(pairs + (PATTERNS["crs"] if code == "locate" else ()), _word)  # lookups re-raise
             for code, pairs in PATTERNS.items() if pairs}                                  # the CRS refusals
_NO_CATALOG = Catalog(())
_ROWS = Catalog(ROW_PATTERNS, _word)


def translate(code: str, message: str, lang: str | None) -> str:
    """Return a refusal's message in ``lang``.

    Parameters
    ----------
    code : str
        The error's key (``GridmapError.key``, ``code`` in JSON), e.g. ``"locate"``.
    message : str
        The core's message (English, or already translated by the web layer).
    lang : str or None
        ``"zh"`` for Chinese; anything else keeps the message as it is.

    Returns
    -------
    str
        A Chinese sentence from :data:`PATTERNS` (a ``<file name>: `` prefix kept), else the code's
        :data:`GENERIC` sentence followed by the original message; the message itself when it is
        already Chinese or ``lang`` is not ``"zh"``.
    """
    if lang != "zh" or not message:
        return message
    catalog = _CATALOGS.get(code) or _CATALOGS.get(code.split(".")[0]) or _NO_CATALOG
    found = catalog.match(message)
    if found is None and ": " in message:  # "<file name>: <message>"
        label, rest = message.split(": ", 1)
        inner = catalog.match(rest)
        found = f"{label}：{inner}" if inner else None
    if found is not None:
        return found
    if _CJK.search(message):  # said in Chinese already (the web layer's own i18n strings)
        return message
    generic = GENERIC.get(code) or GENERIC.get(code.split(".")[0]) or GENERIC["error"]
    return f"{generic}（{message}）"


def translate_any(message: str, lang: str | None) -> str:
    """Return ``message`` in ``lang`` by whichever code's patterns match it, else unchanged (no code known)."""
    if lang != "zh" or not message:
        return message
    for code, catalog in _CATALOGS.items():
        if code.startswith("store."):
            continue  # their catch-all patterns fit every message
        found = catalog.match(message)
        if found is not None:
            return found
    return message


def http_message(status: int, description: str | None, lang: str | None) -> str | None:
    """Return the text of an HTTP error without a GridmapError in ``lang``, or None to keep ``description``."""
    pair = HTTP.get(status)
    if lang != "zh" or pair is None:
        return None
    return pair[0]


def row_message(message: str, lang: str | None) -> str:
    """Return one batch row's ``message`` in ``lang`` (``"zh"`` translates; empty stays empty)."""
    if lang != "zh" or not message or not isinstance(message, str):
        return message
    found = _ROWS.match(message)
    if found is None and "; " in message:  # parts of one row's message, each translated
        return "；".join(_ROWS.match(part) or part for part in message.split("; "))
    return found or message


#: The statuses of batch rows (the ``status`` column keeps the English code) in Chinese, for summaries.
ROW_STATUSES = {"ok": "已定位", "ambiguous": "地址有歧义", "outside": "不在网格内", "not_found": "未找到地址",
                "invalid": "无效", "total": "合计"}


def row_status(status: str, lang: str | None) -> str:
    """Return a batch row status (``ok``, ``outside`` …) as a summary shows it in ``lang``."""
    return ROW_STATUSES.get(status, status) if lang == "zh" else status


def row_translator(lang: str | None) -> Callable[[str], str]:
    """Return a function translating batch row messages into ``lang`` (cached per distinct message)."""
    cache: dict[str, str] = {}

    def tr(message: str) -> str:
        if message not in cache:
            cache[message] = row_message(message, lang)
        return cache[message]

    return tr
