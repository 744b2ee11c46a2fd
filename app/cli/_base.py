"""The command group every `gridmap` command hangs off, and what the commands share: the workspace and the actor."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from app import settings
from app.errors import GridmapError

if TYPE_CHECKING:
    from app.geo.dataset import Dataset
    from app.geo.operations import Actor, Workspace

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

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
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
