import jfml_tracking.api as api


def test_api_exports_are_sorted_and_complete():
    public = sorted(name for name in vars(api) if not name.startswith("_") and name[0].isupper())
    assert sorted(api.__all__, key=str.lower) == sorted(public, key=str.lower)
    assert api.__all__ == sorted(api.__all__, key=lambda n: (not n.isupper(), n.lower()))
