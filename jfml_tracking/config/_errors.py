"""The one error of configuration: bad input that no retry will fix."""

from __future__ import annotations

__all__ = ["ConfigurationError"]


class ConfigurationError(ValueError):
    """The configuration is invalid or incomplete: a bad tracking URI, no credentials, a
    malformed config file, a bad ``JFML_*`` value.

    It sits outside the ``JFrogMLError`` tree on purpose (like httpx's misuse errors): it is
    raised before any request is made, and retrying cannot help. The message names the
    problem, the file or variable involved, and the fix. It never contains a secret.
    """
