"""The `gridmap` command group and what its commands share: workspace, actor, and help and usage errors in Chinese."""

from __future__ import annotations

import importlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from app import settings
from app.errors import GridmapError
from app.messages import Catalog

if TYPE_CHECKING:
    from app.geo.dataset import Dataset
    from app.geo.operations import Actor, Workspace

#: click's common usage errors in Chinese, for `gridmap --lang zh` (pattern of the English text, Chinese
#: wording; ``rest`` is translated again, ``kind`` is one of :data:`_KINDS`). Others are printed as click words them.
_CLICK_ZH = Catalog((
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
    (r"Missing command\.", "缺少命令。"),
), lambda key, text: click_zh(text) if key == "rest" and text else _KINDS.get(text, text) if key == "kind" else text)
_KINDS = {"Path": "路径", "File": "文件", "Directory": "文件夹"}


def click_zh(text: str) -> str:
    """A click usage error's English text in Chinese (as :data:`_CLICK_ZH` words it; else as :func:`text_zh`)."""
    found = _CLICK_ZH.match(text.strip())
    return text_zh(text) if found is None else found


def _cli_messages() -> tuple[tuple[str, str], ...]:
    from app.cli._help_zh import MESSAGES  # read on first use: plain English runs never load it

    return MESSAGES


#: The commands' own lines (``_help_zh.MESSAGES``); a ``layers`` group ("divisions 2, grids 10") gets the
#: layers' Chinese names.
_MESSAGES_ZH = Catalog(_cli_messages, lambda key, text: _layers_zh(text) if key == "layers" and text else text)


def text_zh(text: str) -> str:
    """A command's own refusal, progress or result line in Chinese, as ``_help_zh.MESSAGES`` words it (else
    unchanged)."""
    found = _MESSAGES_ZH.match(text.strip())
    return text if found is None else found


def _layers_zh(text: str) -> str:
    """Layer names in a list (``divisions 2, grids 10``) as their Chinese titles (``街道(镇) 2，网格 10``)."""
    from app.geo.findings import LAYER_TITLES

    names = "|".join(LAYER_TITLES)
    return re.sub(rf"\b({names})\b", lambda m: LAYER_TITLES[m[1]][0], text).replace(", ", "，")


def is_zh() -> bool:
    """Whether this command line asked for Chinese: ``gridmap --lang zh …``, or the command's own ``--lang zh``."""
    return _is_zh(click.get_current_context())


def report_lang(lang: str | None) -> str:
    """The language of a command's own files and summary: its ``--lang``, else the group's (``gridmap --lang``), else zh."""
    if lang:
        return lang
    return click.get_current_context().find_root().params.get("lang") or "zh"


def echo(message: str, err: bool = False) -> None:
    """Print a command's own line (its result, its summary): in Chinese under :func:`is_zh`, as
    ``_help_zh.MESSAGES`` words it, else as given."""
    click.echo(text_zh(message) if is_zh() else message, err=err)


def progress() -> Callable[[str], None]:
    """A ``progress`` callback for the core: each line indented on stderr, in Chinese under ``gridmap --lang zh``."""
    zh = _is_zh(click.get_current_context())

    def say(msg: str) -> None:
        click.echo(f"  {text_zh(msg) if zh else msg}", err=True)

    return say


class _ChineseError(click.ClickException):
    """A refusal printed as ``错误：…`` (click prints ``Error: …``), exit code 1."""

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"错误：{self.format_message()}", file=file, err=file is None)


class _ChineseUsageError(click.UsageError):
    """A click usage error printed in Chinese: usage line, help hint and the message (exit code 2, as click's)."""

    def __init__(self, exc: click.UsageError) -> None:
        super().__init__(click_zh(exc.format_message()), exc.ctx)

    def show(self, file: IO[Any] | None = None) -> None:
        color = self.ctx.color if self.ctx is not None else None
        if self.ctx is not None:
            self.ctx.meta[_LANG_KEY] = "zh"
            usage = self.ctx.get_usage()
            names = self.ctx.command.get_help_option_names(self.ctx)
            path = [c.info_name or "" for c in _chain(self.ctx)]
            command = " ".join([path[0], "--lang zh", *path[1:]])
            hint = f"查看帮助：{command} {max(names, key=len)}\n" if names else ""
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

def _own_lang_zh(command: click.Command, args: Sequence[str]) -> bool:
    """Whether a command with its own ``--lang`` option (coverage, recommend, rebalance) is given ``--lang zh``."""
    if not any(isinstance(p, click.Option) and "--lang" in p.opts for p in command.params):
        return False
    args = list(args)[:list(args).index("--")] if "--" in args else list(args)
    return "--lang=zh" in args or any(a == "--lang" and b == "zh" for a, b in zip(args, args[1:], strict=False))


def _import_commands(name: str | None = None) -> None:
    """Import the module of command ``name`` (see :data:`app.cli.COMMANDS`), or every command module."""
    from app.cli import COMMANDS

    modules = [m for m, names in COMMANDS.items() if name in names] if name is not None else list(COMMANDS)
    for module in modules:
        importlib.import_module(f"app.cli.{module}")


_LANG_KEY = "gridmap.lang"
#: Characters after which a line may not end, and before which it may not start (Chinese line breaking);
#: a short bracket without spaces (``[默认：full]``) is never broken.
_OPENING, _CLOSING = "（《“‘「【[(", "，。、；：！？）》”’」】…])"
_WIDE_PUNCT = "（《“‘「【，。、；：！？）》”’」】"
_WIDE = "\u2e80-\u9fff\uf900-\ufaff\u3000-\u303f\uff00-\uffef"  # CJK characters and full-width forms
_TOKEN = re.compile(rf"\[[^\]\s]{{1,30}}\]|\s+|[{_WIDE}]|[^\s{_WIDE}]+")


def _chain(ctx: click.Context) -> list[click.Context]:
    """The contexts from the group's down to ``ctx``."""
    chain = [ctx]
    while chain[0].parent is not None:
        chain.insert(0, chain[0].parent)
    return chain


def _path(ctx: click.Context) -> str:
    """The command's path below the group, as the catalog keys it: ``""`` (the group), ``"events report"``."""
    return " ".join(c.command.name or "" for c in _chain(ctx)[1:])


def _is_zh(ctx: click.Context) -> bool:
    """Whether this command line asked for Chinese (``gridmap --lang zh``), read or about to be read."""
    return ctx.meta.get(_LANG_KEY) == "zh" or ctx.find_root().params.get("lang") == "zh"


def _cols(text: str) -> int:
    """Columns ``text`` takes in a terminal (Chinese characters and full-width punctuation take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def _tokens(text: str) -> list[str]:
    """``text`` cut where a line may break: at spaces, and between Chinese characters but not before a closing
    or after an opening punctuation mark."""
    out: list[str] = []
    glue = False
    for tok in _TOKEN.findall(text):
        if out and not tok.isspace() and (glue or tok[0] in _CLOSING):
            if out[-1].isspace() and len(out) > 1:  # "4542 ……）": the marks stay with the word before
                tok = out.pop() + tok
            out[-1] += tok
        else:
            out.append(tok)
        glue = not tok.isspace() and tok[-1] in _OPENING
    return out


def _wrap(text: str, width: int, first: str = "", rest: str = "") -> list[str]:
    """``text`` as lines of at most ``width`` columns (unless a word is longer), after the indents."""
    lines: list[str] = []
    line, has_words, space = first, False, ""
    for tok in _tokens(" ".join(text.split())):
        if tok.isspace():
            space = " "
            continue
        if has_words and _cols(line) + len(space) + _cols(tok) > width:
            lines.append(line)
            line, space = rest, ""
        line += (space if has_words else "") + tok
        has_words, space = True, ""
    lines.append(line)
    return lines


def _short(text: str, width: int) -> str:
    """A command's line in its group's list: the first sentence of its Chinese help, cut to ``width`` columns."""
    first = _unwrap(re.split(r"\n\s*\n", text.strip(), maxsplit=1)[0])
    first = first.split("。", 1)[0] + "。" if "。" in first else first
    if _cols(first) <= width:
        return first
    while first and _cols(first) > width - 1:
        first = first[:-1]
    return first.rstrip("，、；：（ ") + "…"


def _unwrap(para: str) -> str:
    """A paragraph's lines joined into one: with a space, or with none between two Chinese characters."""
    def join(m: re.Match[str]) -> str:
        tight = (_cols(m[1]) == 2 and _cols(m[2]) == 2) or m[1] in _WIDE_PUNCT or m[2] in _WIDE_PUNCT
        return m[1] + ("" if tight else " ")

    return re.sub(r"(\S)[ \t]*\n\s*(?=(\S))", join, para.strip())


def _fill(text: str, width: int, indent: str = "") -> str:
    """Paragraphs of ``text`` wrapped to ``width`` columns, as click's ``wrap_text`` keeps them (``\\b`` blocks
    as written)."""
    out = []
    for para in re.split(r"\n\s*\n", text.expandtabs().strip("\n")):
        lines = para.splitlines()
        if lines and lines[0].strip() == "\b":
            out.append("\n".join(indent + line for line in lines[1:]))
        else:
            lead = " " * (len(lines[0]) - len(lines[0].lstrip())) if lines else ""
            out.append("\n".join(_wrap(_unwrap(para), width, indent + lead, indent + lead)))
    return "\n\n".join(out)


class _ZhFormatter(click.HelpFormatter):
    """click's help layout in Chinese words, wrapped by terminal columns (a Chinese character takes two)."""

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        head = f"{' ' * self.current_indent}{'用法：' if prefix is None else prefix}{prog} "
        if not args:
            self.write(head.rstrip(" ") + "\n")
            return
        self.write("\n".join(_wrap(args, self.width, head, " " * min(_cols(head), self.width // 2))) + "\n")

    def write_heading(self, heading: str) -> None:
        self.write(f"{' ' * self.current_indent}{heading}：\n")

    def write_text(self, text: str) -> None:
        self.write(_fill(text, self.width, " " * self.current_indent) + "\n")

    def write_dl(self, rows: Iterable[tuple[str, str]], col_max: int = 30, col_spacing: int = 2) -> None:
        rows = list(rows)
        first_col = min(max((_cols(first) for first, _ in rows), default=0), col_max) + col_spacing
        lead = " " * (first_col + self.current_indent)
        for first, second in rows:
            self.write(" " * self.current_indent + first)
            if not second:
                self.write("\n")
                continue
            self.write(" " * (first_col - _cols(first)) if _cols(first) <= first_col - col_spacing else "\n" + lead)
            lines = _fill(second, max(self.width - first_col - 2, 10)).splitlines()
            self.write("\n".join([lines[0], *(lead + line if line else "" for line in lines[1:])]) + "\n")


class _Context(click.Context):
    """A command's context: under ``gridmap --lang zh`` its help is laid out by :class:`_ZhFormatter`."""

    def make_formatter(self) -> click.HelpFormatter:
        if _is_zh(self):
            return _ZhFormatter(width=self.terminal_width, max_width=self.max_content_width)
        return super().make_formatter()


def _extra_zh(param: click.Parameter, ctx: click.Context) -> str:
    """An option's ``[default: …; required]`` in Chinese (empty when click shows none)."""
    if not isinstance(param, click.Option):
        return ""
    extra = param.get_help_extra(ctx)
    items = [f"环境变量：{', '.join(extra['envvars'])}"] if "envvars" in extra else []
    items += [f"默认：{extra['default']}"] if "default" in extra else []
    items += [extra["range"]] if "range" in extra else []
    items += ["必填"] if "required" in extra else []
    return f"[{'；'.join(items)}]" if items else ""


def _param_key(param: click.Parameter) -> str:
    """How the catalog names a parameter: an option's longest name (``--columns``), an argument's (``OUT``)."""
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return (param.name or "").upper()


class _ChineseHelp(click.Command):
    """A command whose help is in Chinese under ``gridmap --lang zh`` (from :mod:`app.cli._help_zh`), and as
    click writes it otherwise."""

    context_class = _Context

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not isinstance(self, click.Group) and _own_lang_zh(self, args):  # coverage --lang zh --help
            ctx.meta[_LANG_KEY] = "zh"
        return super().parse_args(ctx, args)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if not _is_zh(ctx):
            return super().format_usage(ctx, formatter)
        from app.cli import _help_zh

        pieces = [_help_zh.USAGE.get(p, p) for p in self.collect_usage_pieces(ctx)]
        formatter.write_usage(ctx.command_path, " ".join(pieces))

    def format_help_text(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from app.cli import _help_zh

        text = _help_zh.COMMANDS.get(_path(ctx)) if _is_zh(ctx) else None
        if text is None:
            return super().format_help_text(ctx, formatter)
        formatter.write_paragraph()
        with formatter.indentation():
            formatter.write_text(text)

    def format_arguments(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if not _is_zh(ctx):
            return super().format_arguments(ctx, formatter)
        rows = self._zh_rows(ctx, arguments=True)
        if any(help for _, help in rows):
            with formatter.section("位置参数"):
                formatter.write_dl(rows)

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if not _is_zh(ctx):
            return super().format_options(ctx, formatter)
        rows = self._zh_rows(ctx, arguments=False)
        if rows:
            with formatter.section("选项"):
                formatter.write_dl(rows)
        if isinstance(self, click.Group):
            self.format_commands(ctx, formatter)

    def _zh_rows(self, ctx: click.Context, *, arguments: bool) -> list[tuple[str, str]]:
        """The help rows of the options (or arguments): names as click writes them, help from the catalog."""
        from app.cli import _help_zh

        rows = []
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None or isinstance(param, click.Argument) != arguments:
                continue
            english = getattr(param, "help", None) or ""
            help = _help_zh.CLICK.get(english) or _help_zh.PARAMS.get((_path(ctx), _param_key(param)), english)
            extra = _extra_zh(param, ctx)
            rows.append((record[0], f"{help}  {extra}" if help and extra else help or extra))
        return rows


class _Group(_ChineseHelp, click.Group):
    """A group of commands with Chinese help under ``gridmap --lang zh``; its commands and groups are too."""

    command_class = _ChineseHelp
    group_class = type

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        if not _is_zh(ctx):
            return super().format_commands(ctx, formatter)
        from app.cli import _help_zh

        commands = [(name, cmd) for name in self.list_commands(ctx)
                    if (cmd := self.get_command(ctx, name)) is not None and not cmd.hidden]
        if not commands:
            return
        width = formatter.width - 6 - max(len(name) for name, _ in commands)
        path = _path(ctx)
        rows = []
        for name, cmd in commands:
            key = f"{path} {name}".strip()
            text = _help_zh.SHORT.get(key) or _help_zh.COMMANDS.get(key)
            rows.append((name, _short(text, width) if text else cmd.get_short_help_str(width)))
        with formatter.section("命令"):
            formatter.write_dl(rows)


def _only_lang(args: Sequence[str]) -> bool:
    """Whether the command line is nothing but ``--lang X`` (then the group's help is shown, as for no args)."""
    return list(args) in (["--lang", "zh"], ["--lang", "en"], ["--lang=zh"], ["--lang=en"])


class _Gridmap(_Group):
    """The command group; every refusal of the core (a GridmapError) becomes an exit 1 with its message here.

    Commands are loaded lazily: `gridmap CMD` imports only the module of CMD, listing them imports all.
    """

    group_class = _Group

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
        if _wants_zh(args):  # before --help, which click reads first
            ctx.meta[_LANG_KEY] = "zh"
        if _only_lang(args) and not ctx.resilient_parsing:
            raise click.exceptions.NoArgsIsHelpError(ctx)
        try:
            return super().parse_args(ctx, list(args))
        except click.UsageError as exc:  # the group's own options: --lang is not read yet
            if _wants_zh(args) and not isinstance(exc, _ChineseUsageError | click.exceptions.NoArgsIsHelpError):
                raise _ChineseUsageError(exc) from None
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:  # gridmap --lang zh …: click's words for a bad command line in Chinese
            if _is_zh(ctx) and not isinstance(exc, _ChineseUsageError | click.exceptions.NoArgsIsHelpError):
                raise _ChineseUsageError(exc) from None
            raise
        except click.ClickException as exc:  # a command's own refusal (click.ClickException("…")) in Chinese
            if _is_zh(ctx) and type(exc) is click.ClickException:
                raise _ChineseError(text_zh(exc.format_message())) from None
            raise
        except GridmapError as exc:
            lang = ctx.params.get("lang") or ("zh" if _is_zh(ctx) else None)
            if lang:  # gridmap --lang zh …: the refusal in Chinese (app.messages), keyed by its code
                from app import messages

                error = _ChineseError if lang == "zh" else click.ClickException
                raise error(messages.translate(exc.key, exc.message, lang)) from None
            raise click.ClickException(exc.message) from None


def _show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--version``: the line click's ``version_option`` prints (``gridmap, version 1.2``), in Chinese under
    ``--lang zh`` (``gridmap 版本 1.2``)."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    prog, number = ctx.find_root().info_name, version("gridmap")
    click.echo(f"{prog} 版本 {number}" if _is_zh(ctx) else f"{prog}, version {number}", color=ctx.color)
    ctx.exit()


@click.group(cls=_Gridmap, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--version", is_flag=True, expose_value=False, is_eager=True, callback=_show_version,
              help="Show the version and exit.")
@click.option("--lang", type=click.Choice(("zh", "en")), default=None,
              help="Language of help screens, usage errors, refusals and progress (zh: Chinese); by default help is "
                   "in English and refusals are printed as the core words them.")
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
