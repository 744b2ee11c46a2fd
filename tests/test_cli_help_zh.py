"""`gridmap --lang zh … --help` is Chinese on every screen, its catalog matches the commands, English stays as it was."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from app.cli import _help_zh, main
from app.cli._base import _param_key

_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")
#: What may stay in Latin letters on a Chinese help screen: code spans, option names, metavars and setting
#: names (capitals), choices, URLs, paths, file names and field names (with / . _ : digits).
_NOT_PROSE = re.compile(r"`[^`]*`|\w+://\S+|(?<![\w-])--?[A-Za-z][\w-]*|\[[^\]]*\|[^\]]*\]|\{[^}]*\}"
                        r"|\b[A-Z][A-Z0-9_]+\b|[\w.~<>-]*[/._:\d][\w./~<>:-]*")
_SENTENCE = re.compile(r"[A-Za-z]+(?:[ ,;'()]+[A-Za-z]+){2,}")


def _commands(cmd: click.Command = main, path: tuple[str, ...] = ()) -> Iterator[tuple[str, click.Command]]:
    """Every command of `gridmap` with its path (``""`` for the group, ``"events report"``), groups walked down."""
    yield " ".join(path), cmd
    if isinstance(cmd, click.Group):
        ctx = click.Context(cmd)
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            assert sub is not None
            yield from _commands(sub, (*path, name))


def _help(runner: CliRunner, path: str, *lang: str) -> str:
    r = runner.invoke(main, [*lang, *path.split(), "--help"], prog_name="gridmap", terminal_width=80)
    assert r.exit_code == 0, r.output
    return r.output


def _cols(line: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in line)


def english_sentences(text: str) -> list[str]:
    """Runs of three or more English words between Chinese text, outside examples and names (see :data:`_NOT_PROSE`)."""
    found = []
    for line in text.splitlines():
        if line.strip().startswith(("gridmap ", "GRIDMAP_", "用法：")):  # a command line: an example, the usage
            continue
        for part in _CJK.split(_NOT_PROSE.sub(" ", line)):
            found += [m.group() for m in _SENTENCE.finditer(part)]
    return found


def test_the_catalog_has_every_help_and_nothing_else():
    commands, params = set(), set()
    for path, cmd in _commands():
        if cmd.help:
            commands.add(path)
        for param in cmd.params:
            if getattr(param, "help", None) and param.help not in _help_zh.CLICK:
                params.add((path, _param_key(param)))
    assert commands - set(_help_zh.COMMANDS) == set(), "commands without Chinese help"
    assert params - set(_help_zh.PARAMS) == set(), "options without Chinese help"
    assert set(_help_zh.COMMANDS) - commands == set(), "Chinese help of commands that are gone"
    assert set(_help_zh.SHORT) - commands == set(), "Chinese short help of commands that are gone"
    assert set(_help_zh.PARAMS) - params == set(), "Chinese help of options that are gone"


def test_the_catalog_keeps_the_names_the_english_help_mentions():
    """An option, a setting or a format the English help names is named in the Chinese too (a sign of an old
    translation when the English changed)."""
    names = re.compile(r"(?<![\w-])--[a-z][\w-]*|\bGRIDMAP_\w+|\.[a-z]{3,10}\b")
    missing = {}
    for path, cmd in _commands():
        texts = [(path, cmd.help or "", _help_zh.COMMANDS.get(path, ""))]
        texts += [((path, _param_key(p)), p.help or "", _help_zh.PARAMS.get((path, _param_key(p)), ""))
                  for p in cmd.params if (path, _param_key(p)) in _help_zh.PARAMS]
        for key, english, chinese in texts:
            lost = set(names.findall(english)) - set(names.findall(chinese))
            if lost:
                missing[key] = sorted(lost)
    assert missing == {}


def test_every_help_screen_is_chinese(runner):
    problems = {}
    for path, _cmd in _commands():
        out = _help(runner, path, "--lang", "zh")
        assert out.startswith(f"用法：gridmap {path}".rstrip() + " "), out[:80]
        assert "选项：" in out and "显示本帮助并退出。" in out
        for word in ("Usage", "Options:", "Commands:", "Show this message", "default:", "required]"):
            assert word not in out, (path, word)
        found = english_sentences(out)
        too_wide = [line for line in out.splitlines()
                    if _cols(line) > 80 and not line.strip().startswith(("gridmap ", "GRIDMAP_"))]
        if found or too_wide:
            problems[path] = found + too_wide
    assert problems == {}


def test_the_scanner_finds_english_left_over():
    text = "  --out FILE  结果文件 (see the manual) 与 GRIDMAP_DATA_DIR [默认：full]\n    gridmap locate --lon 98 --lat 39"
    assert english_sentences(text) == ["see the manual"]
    assert english_sentences("  --engine TEXT  local：在本进程中处理；dask：在 dask.distributed 集群上") == []


def test_chinese_screens_read_as_expected(runner):
    out = _help(runner, "", "--lang", "zh")
    assert "  --version       显示版本号并退出。\n" in out
    assert "\n命令：\n" in out and "  locate-batch  把表格文件的每一行落到网格。\n" in out
    assert "帮助、用法错误、拒绝信息和进度的语言（zh：中文）" in out.replace("\n", "").replace(" ", "")
    out = _help(runner, "locate-batch", "--lang=zh")
    assert "用法：gridmap locate-batch [选项] IN...\n" in out
    assert "  示例：\n    gridmap locate-batch people.csv --out people-grids.csv\n" in out  # \b block kept
    flat = "".join(out.split())
    assert re.search(r"--out PATH +结果文件：", out) and "[必填]" in flat and "[默认：full]" in flat
    assert "[x>=1]" in flat and "[环境变量GRIDMAP_DATA_DIR，默认geodata/]" in flat
    out = _help(runner, "events report", "--lang", "zh")
    assert "  --by [grid|committee|division|department|category]\n" in out and "[默认：grid]" in "".join(out.split())
    out = _help(runner, "settings", "--lang", "zh")
    assert "列出每项设置及其环境变量、默认值和说明" in out


def test_lang_alone_shows_the_help_as_no_arguments_do(runner):
    for args in (["--lang", "zh"], ["--lang=zh"]):
        r = runner.invoke(main, args, prog_name="gridmap")
        assert r.exit_code == 2 and r.output.startswith("用法：gridmap [选项] 命令 [参数]...") and "命令：" in r.output
    r = runner.invoke(main, ["--lang", "zh", "events"], prog_name="gridmap")
    assert r.exit_code == 2 and "用法：gridmap events [选项]" in r.output and "错误" not in r.output
    bare = runner.invoke(main, [], prog_name="gridmap")
    assert bare.exit_code == 2 and bare.output == runner.invoke(main, ["--lang", "en"], prog_name="gridmap").output


def test_version_line(runner):
    en = runner.invoke(main, ["--version"], prog_name="gridmap")
    zh = runner.invoke(main, ["--lang", "zh", "--version"], prog_name="gridmap")
    assert en.exit_code == zh.exit_code == 0
    assert re.fullmatch(r"gridmap, version \S+\n", en.output) and zh.output == en.output.replace(", version", " 版本")


def test_usage_errors_point_to_the_chinese_help(runner):
    r = runner.invoke(main, ["--lang", "zh", "locate-batch"], prog_name="gridmap")
    assert r.exit_code == 2 and "查看帮助：gridmap --lang zh locate-batch --help" in r.output


def test_english_help_is_unchanged(runner):
    out = _help(runner, "")
    assert out.startswith("Usage: gridmap [OPTIONS] COMMAND [ARGS]...\n\n  gridmap: grid mapping for community governance")
    assert "  --version       Show the version and exit.\n" in out and "\nCommands:\n" in out
    assert "  -h, --help      Show this message and exit.\n" in out
    out = _help(runner, "locate-batch")
    assert out.startswith("Usage: gridmap locate-batch [OPTIONS] IN...\n\n  Assign every row of a CSV/XLSX")
    assert "\nOptions:\n  --out PATH                  Result file: .csv (UTF-8 with BOM, opens in\n" in out
    flat = " ".join(out.split())
    assert "[required]" in flat and "[default: full]" in flat and "[x>=1]" in flat
    assert set(_CJK.findall(out.split("Options:")[1])) <= set("经度纬度地址")  # the column names it finds
    for path, _cmd in _commands():
        assert _help(runner, path) == _help(runner, path, "--lang", "en"), path


@pytest.mark.parametrize("text", ["gridmap：网格化治理的网格地图服务。", "[默认：50；1<=x<=1000]"])
def test_wrapping_counts_columns(text: str):
    from app.cli._base import _fill

    lines = _fill(text * 6, 30).splitlines()
    assert all(_cols(line) <= 30 for line in lines) and len(lines) > 1
    assert not any(line.startswith(("。", "；", "]", "）")) for line in lines)


def test_command_refusals_and_progress_are_chinese_under_lang_zh(runner, tmp_path) -> None:
    """A command's own refusal prints 错误：… in Chinese (exit 1); the core's progress lines are Chinese too."""
    r = runner.invoke(main, ["--lang", "zh", "coverage", "--out", str(tmp_path / "x.pdf")])
    assert r.exit_code == 1 and "错误：请给出 --category（一个或多个）、--require 或 --preset" in r.output
    assert "Error" not in r.output
    r = runner.invoke(main, ["coverage", "--out", str(tmp_path / "x.pdf")])
    assert r.exit_code == 1 and "Error: give --category (one or more), --require or --preset" in r.output
    r = runner.invoke(main, ["--lang", "zh", "demo-data", "--out", str(tmp_path / "demo")])
    assert r.exit_code == 0, r.output
    assert "个街道（镇），" in r.output and "个网格" in r.output and "613 grids" not in r.output and "已写入" in r.output


def test_every_refusal_string_of_the_commands_has_chinese() -> None:
    """Each English refusal the command modules raise (click.ClickException/UsageError/BadParameter) is worded in
    Chinese by the catalog: the literal text, with a sample value for each placeholder."""
    import ast
    import re
    from pathlib import Path

    from app.cli._base import click_zh

    for path in sorted(Path("app/cli").glob("*.py")):
        if path.name.startswith("_"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and node.func.attr in ("ClickException", "UsageError", "BadParameter") and node.args):
                continue
            arg = node.args[0]
            if isinstance(arg, ast.IfExp):  # already worded in both languages at the call
                continue
            text = "".join(v.value if isinstance(v, ast.Constant) else "'x'" for v in
                           (arg.values if isinstance(arg, ast.JoinedStr) else [arg]))
            assert re.search(r"[\u3400-\u9fff]", click_zh(text).replace("网格号", "")), (path.name, text)
