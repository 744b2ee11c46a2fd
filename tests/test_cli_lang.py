"""`gridmap --lang zh` prints click's usage errors (bad path, option, argument, choice, command) in Chinese."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.cli import main
from app.cli._base import click_zh


@pytest.mark.parametrize(("args", "zh"), [
    (["locate-batch", "/nonexistent.csv", "--out", "x.csv"], "错误：'IN...' 的值无效：路径 '/nonexistent.csv' 不存在。"),
    (["locate-batch", "{src}", "--otu", "x.csv"], "错误：没有选项 '--otu'。是不是要用 '--out'？"),
    (["locate-batch"], "错误：缺少参数 'IN...'。"),
    (["locate-batch", "{src}"], "错误：缺少选项 '--out'。"),
    (["locate-batch", "{src}", "--out", "x.csv", "--columns", "all"],
     "错误：'--columns' 的值无效：'all' 不是可选的值：'full', 'basic'。"),
    (["locate-batch", "{src}", "--out", "x.csv", "--chunk-rows", "0"], "错误：'--chunk-rows' 的值无效：0 不在范围 x>=1 内。"),
    (["locate-batch", "{src}", "--out", "x.csv", "--grids", "{dir}"], "错误：'--grids' 的值无效：文件 '{dir}' 是文件夹。"),
    (["locatee"], "错误：没有命令 'locatee'。（是不是要用其中之一：'locate', 'locate-batch'？）"),
    (["--bogus", "locate"], "错误：没有选项 '--bogus'。"),
])
def test_usage_errors_in_chinese(runner, tmp_path: Path, args: list[str], zh: str):
    src = tmp_path / "in.csv"
    src.write_text("lon,lat\n98.29,39.77\n", encoding="utf-8")
    fill = {"src": str(src), "dir": str(tmp_path)}
    args = [a.format(**fill) for a in args]
    r = runner.invoke(main, ["--lang", "zh", *args], prog_name="gridmap")
    assert r.exit_code == 2, r.output
    assert zh.format(**fill) in r.output and "用法：gridmap" in r.output and "查看帮助：gridmap" in r.output
    assert "Error" not in r.output and "Usage" not in r.output
    en = runner.invoke(main, args, prog_name="gridmap")  # without --lang: click's own words
    assert en.exit_code == 2 and "Error: " in en.output and "错误" not in en.output


def test_lang_option_anywhere_before_the_command(runner):
    r = runner.invoke(main, ["--lang=zh", "locate-batch", "/nonexistent.csv", "--out", "x.csv"])
    assert r.exit_code == 2 and "路径 '/nonexistent.csv' 不存在。" in r.output
    r = runner.invoke(main, ["--bogus", "--lang", "zh"])
    assert r.exit_code == 2 and "没有选项 '--bogus'。" in r.output


def test_unknown_texts_stay_as_click_words_them():
    assert click_zh("Something else went wrong.") == "Something else went wrong."
    assert click_zh("Invalid value for '--x': something else.") == "'--x' 的值无效：something else."
