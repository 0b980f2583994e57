"""What can go wrong talking to a hub, as types a caller can act on."""

from __future__ import annotations


class HubError(Exception):
    """Anything that went wrong talking to the hub."""


class HubUnavailable(HubError):
    """The hub did not answer usefully after the retries (connection errors, timeouts, 5xx, 429)."""


class HubRejected(HubError):
    """The hub answered 4xx; `errors` is the spec's list of {code, description}."""

    def __init__(self, status: int, errors: list[dict]):
        self.status, self.errors = status, errors
        super().__init__(f"hub rejected the request ({status}): " + "; ".join(str(e.get("description")) for e in errors))

    @property
    def description(self) -> str:
        return "; ".join(str(e.get("description", "")) for e in self.errors)


class CaseNotFound(HubRejected):
    """404."""


class Forbidden(HubRejected):
    """401/403: a missing or wrong api_key or staff token, or not allowed."""


class Conflict(HubRejected):
    """409: an illegal lifecycle transition."""


BY_STATUS = {404: CaseNotFound, 401: Forbidden, 403: Forbidden, 409: Conflict}
