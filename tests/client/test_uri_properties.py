"""Property tests: any input gives a parsed URI or a ConfigurationError, never a crash or a leak."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from jfml_tracking.config import ConfigurationError, parse_tracking_uri, resolve_settings

SCHEMES = st.sampled_from(["jfml", "jfml+https", "jfml+http", "JFML", "http", "jfml+ftp", ""])
# Any unicode but surrogates, with URL punctuation made frequent.
TEXT = st.text(
    alphabet=st.one_of(
        st.sampled_from(list("[]:@/?#%. -_0123456789abcAB")),
        st.characters(blacklist_categories=("Cs",)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(scheme=SCHEMES, sep=st.sampled_from([":", "://", ":///", ""]), rest=TEXT)
def test_parse_never_crashes(scheme: str, sep: str, rest: str) -> None:
    uri = f"{scheme}{sep}{rest}"
    try:
        parsed = parse_tracking_uri(uri, env={"JFML_ALLOW_INSECURE_HTTP": "true"})
    except ConfigurationError as exc:
        assert "Fix:" in str(exc)
    else:
        assert parsed.platform_url is None or parsed.platform_url.startswith(
            ("https://", "http://")
        )


@settings(max_examples=200, deadline=None)
@given(
    scheme=st.sampled_from(["jfml", "jfml+https", "jfml+http"]),
    # The fixed prefix keeps a password from being a word the message uses anyway ("credenti").
    password=st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=5, max_size=17).map(
        lambda s: "Zq7" + s
    ),
    host=st.sampled_from(["acme", "localhost:5000", "ml.example.com"]),
)
def test_credentials_in_a_uri_never_reach_a_message(scheme: str, password: str, host: str) -> None:
    uri = f"{scheme}://joe:{password}@{host}"
    try:
        resolve_settings(uri, token="t", env={"HOME": "/nonexistent"})
    except ConfigurationError as exc:
        assert password not in str(exc)
    else:
        raise AssertionError(f"{uri} was accepted")
