"""One error base for gridmap: every refusal the core makes carries an HTTP status and a message key."""

from __future__ import annotations

from typing import Any, ClassVar


class GridmapError(Exception):
    """A request the core cannot carry out, with a message that names the problem.

    The web layer maps every subclass once to a JSON body or an HTML page with ``status``
    (``app.web.errors``); the CLI maps it once to an exit with the message (``app.cli``).

    Parameters
    ----------
    message : str
        What is wrong, said so that the user can fix it.
    status : int, optional
        The HTTP status; the class's :attr:`default_status` when omitted.
    key : str, optional
        A stable, machine-readable name of the problem (``"store.busy"``); the class's
        :attr:`default_key` when omitted.
    **detail
        Further JSON-ready fields for the API body (e.g. ``suggestions``).
    """

    #: HTTP status of the class (4xx: the client can fix it; 409: state; 503: the server lacks something).
    default_status: ClassVar[int] = 400
    #: Message key of the class, sent as ``code`` in JSON bodies.
    default_key: ClassVar[str] = "error"

    def __init__(self, message: str, status: int | None = None, *, key: str | None = None,
                 **detail: Any) -> None:
        super().__init__(message)
        self.message = message
        self.status = status if status is not None else self.default_status
        self.key = key or self.default_key
        self.detail = detail

    def to_dict(self) -> dict[str, Any]:
        """Return the JSON body of this error: ``error``, ``status``, ``code`` and any detail."""
        return {"error": self.message, "status": self.status, "code": self.key, **self.detail}
