"""The public namespace is exactly ``__all__`` (cf. httpx tests/test_exported_members.py)."""

import etl_framework


def test_exported_members() -> None:
    public = {name for name in dir(etl_framework) if not name.startswith("_")}
    modules = {name for name in public if type(getattr(etl_framework, name)).__name__ == "module"}
    assert public - modules == set(etl_framework.__all__) - {"__version__"}
    for name in etl_framework.__all__:
        assert hasattr(etl_framework, name)
