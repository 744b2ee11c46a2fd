"""The command group every `gridmap` command hangs off, and what the commands share: the workspace and the actor."""

from __future__ import annotations

import importlib
import re
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from app import settings
from app.errors import GridmapError

if TYPE_CHECKING:
    from app.geo.dataset import Dataset
    from app.geo.operations import Actor, Workspace

#: click's common usage errors in Chinese, for `gridmap --lang zh` (pattern of the English text, Chinese
#: wording; ``rest`` is translated again, ``kind`` is one of :data:`_KINDS`). Others are printed as click words them.
_CLICK_ZH: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p, re.S), zh) for p, zh in (
    (r"Invalid value for (?P<param>.+?): (?P<rest>.*)", "{param} 的值无效：{rest}"),
    (r"Invalid value: (?P<rest>.*)", "值无效：{rest}"),
    (r"(?P<kind>Path|File|Directory) (?P<path>'.*') does not exist\.", "{kind} {path} 不存在。"),
    (r"(?P<kind>Path|File|Directory) (?P<path>'.*') is a directory\.", "{kind} {path} 是文件夹。"),
    (r"(?P<kind>Path|File|Directory) (?P<path>'.*') is a file\.", "{kind} {path} 是文件，不是文件夹。"),
    (r"No such option (?P<name>'.+?')\.(?: (?P<rest>.+))?", "没有选项 {name}。{rest}"),
    (r"No such option: (?P<name>.+)", "没有选项 {name}。"),
    (r"Did you mean (?P<name>.+)\?", "是不是要用 {name}？"),
    (r"\(Did you mean one of: (?P<name>.+)\?\)", "（是不是要用其中之一：{name}？）"),
    (r"\(Possible options: (?P<name>.+)\)", "（可能的选项：{name}）"),
    (r"Missing argument (?P<name>'.+')\.", "缺少参数 {name}。"),
    (r"Missing option (?P<name>'.+')\.(?: (?P<rest>.+))?", "缺少选项 {name}。{rest}"),
    (r"(?P<value>'.*') is not one of (?P<name>.+)\.", "{value} 不是可选的值：{name}。"),
    (r"(?P<value>'.*') is not (?P<name>'.*')\.", "{value} 不是可选的值：{name}。"),
    (r"No such command (?P<name>'.+?')\.(?: (?P<rest>.+))?", "没有命令 {name}。{rest}"),
    (r"(?P<value>.+) is not in the range (?P<name>.+)\.", "{value} 不在范围 {name} 内。"),
    (r"Got unexpected extra arguments? \((?P<name>.*)\)", "多余的参数：{name}"),
))
_KINDS = {"Path": "路径", "File": "文件", "Directory": "文件夹"}


def click_zh(text: str) -> str:
    """A click usage error's English text in Chinese (as :data:`_CLICK_ZH` words it; unknown texts unchanged)."""
    for pattern, zh in _CLICK_ZH:
        m = pattern.fullmatch(text.strip())
        if m is not None:
            parts = {k: v or "" for k, v in m.groupdict().items()}
            parts["rest"] = click_zh(parts["rest"]) if parts.get("rest") else ""
            parts["kind"] = _KINDS.get(parts.get("kind", ""), parts.get("kind", ""))
            return zh.format(**parts)
    return text


class _ChineseUsageError(click.UsageError):
    """A click usage error printed in Chinese: usage line, help hint and the message (exit code 2, as click's)."""

    def __init__(self, exc: click.UsageError) -> None:
        super().__init__(click_zh(exc.format_message()), exc.ctx)

    def show(self, file: IO[Any] | None = None) -> None:
        color = self.ctx.color if self.ctx is not None else None
        if self.ctx is not None:
            usage = self.ctx.get_usage().replace("Usage: ", "用法：", 1)
            names = self.ctx.command.get_help_option_names(self.ctx)
            hint = f"查看帮助：{self.ctx.command_path} {max(names, key=len)}\n" if names else ""
            click.echo(f"{usage}\n{hint}", file=file, err=file is None, color=color)
        click.echo(f"错误：{self.format_message()}", file=file, err=file is None, color=color)


def _wants_zh(args: Sequence[str]) -> bool:
    """Whether the command line asks for Chinese (``--lang zh`` or ``--lang=zh`` before the command)."""
    for i, arg in enumerate(args):
        if arg == "--lang=zh" or (arg == "--lang" and i + 1 < len(args) and args[i + 1] == "zh"):
            return True
        if not arg.startswith("-") and (i == 0 or args[i - 1] != "--lang"):  # the command: its own options follow
            return False
    return False

def _import_commands(name: str | None = None) -> None:
    """Import the module of command ``name`` (see :data:`app.cli.COMMANDS`), or every command module."""
    from app.cli import COMMANDS

    modules = [m for m, names in COMMANDS.items() if name in names] if name is not None else list(COMMANDS)
    for module in modules:
        importlib.import_module(f"app.cli.{module}")


class _Gridmap(click.Group):
    """The command group; every refusal of the core (a GridmapError) becomes an exit 1 with its message here.

    Commands are loaded lazily: `gridmap CMD` imports only the module of CMD, listing them imports all.
    """

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands:
            _import_commands(cmd_name)
        if cmd_name not in self.commands:  # a command of a module not in COMMANDS
            _import_commands()
        return super().get_command(ctx, cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        _import_commands()
        return super().list_commands(ctx)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        try:
            return super().parse_args(ctx, list(args))
        except click.UsageError as exc:  # the group's own options: --lang is not read yet
            if _wants_zh(args) and not isinstance(exc, _ChineseUsageError):
                raise _ChineseUsageError(exc) from None
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # gridmap --lang zh …: click's words for a bad command line in Chinese
            if ctx.params.get("lang") == "zh" and not isinstance(exc, _ChineseUsageError):
                raise _ChineseUsageError(exc) from None
            raise
        except GridmapError as exc:
            lang = ctx.params.get("lang")
            if lang:  # gridmap --lang zh …: the refusal in Chinese (app.messages), keyed by its code
                from app import messages

                raise click.ClickException(messages.translate(exc.key, exc.message, lang)) from None
            raise click.ClickException(exc.message) from None


@click.group(cls=_Gridmap, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="gridmap")
@click.option("--lang", type=click.Choice(("zh", "en")), default=None,
              help="Language of refusals (zh: Chinese); by default they are printed as the core words them.")
def main(lang: str | None) -> None:
    """gridmap: grid mapping for community governance (网格化治理).

    Serve the map and APIs, build and validate geodata, locate addresses and
    coordinates in grids, and analyse facility coverage.
    """




def workspace(data_dir: Path | None = None) -> Workspace:
    """Open the configured store and database (or ``data_dir``) as the service does, without the web app."""
    from app.geo.operations import open_workspace

    return open_workspace(settings.resolve({"DATA_DIR": str(data_dir)} if data_dir else None))


def dataset(data_dir: Path | None) -> Dataset:
    """The current data version of the configured store (or ``data_dir``)."""
    return workspace(data_dir).data.current()


DATA_DIR_OPTION = click.option(
    "--data-dir", type=click.Path(file_okay=False, exists=True, path_type=Path), default=None,
    help=f"Geodata folder {settings.describe('DATA_DIR')}.")



def actor() -> Actor:
    """The person running a command, for the audit log."""
    from app.geo.operations import Actor, cli_actor

    return Actor(cli_actor())
