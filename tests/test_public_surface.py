"""The public surface is kept once: one mapping of the top-level names, and one error root.

``prefect_gmicloud._EXPORTS`` names each top-level name's module; ``__all__``, ``dir()``, the
lazy imports and the imports type checkers read must all say the same. Every exception the
package defines is a ``GMICloudError`` and lives in ``errors.py``, unless it is a private signal
that never leaves its module's callers.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest

import prefect_gmicloud
from prefect_gmicloud.errors import GMICloudError

INIT = Path(prefect_gmicloud.__file__)


def type_checking_imports() -> dict[str, str]:
    """What the ``if TYPE_CHECKING:`` block of ``__init__.py`` imports: name -> module."""
    tree = ast.parse(INIT.read_text())
    found: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for imported in node.body:
                assert isinstance(imported, ast.ImportFrom), ast.unparse(imported)
                for alias in imported.names:
                    assert alias.asname == alias.name, f"{alias.name}: re-export it as itself"
                    found[alias.name] = str(imported.module)
    return found


def test_all_dir_and_the_lazy_imports_come_from_one_mapping() -> None:
    exports = prefect_gmicloud._EXPORTS
    assert prefect_gmicloud.__all__ == ["__version__", *exports]
    assert dir(prefect_gmicloud) == sorted(prefect_gmicloud.__all__)
    assert type_checking_imports() == exports


def test_the_top_level_stays_small() -> None:
    assert 18 <= len(prefect_gmicloud._EXPORTS) <= 26


@pytest.mark.parametrize("name", list(prefect_gmicloud._EXPORTS))
def test_every_top_level_name_is_the_one_its_module_holds(name: str) -> None:
    module = importlib.import_module(prefect_gmicloud._EXPORTS[name])
    assert getattr(prefect_gmicloud, name) is getattr(module, name)


def test_an_unknown_name_is_an_attribute_error() -> None:
    internal = "WaitTracker"  # reachable from its module only
    with pytest.raises(AttributeError, match=internal):
        getattr(prefect_gmicloud, internal)


def package_modules() -> list[str]:
    """Every module of the package, namespace folders (no ``__init__.py``) included."""
    root = INIT.parent
    names = []
    for path in sorted(root.rglob("*.py")):
        if path.stem == "__main__":  # importing it starts a program
            continue
        parts = path.relative_to(root.parent).with_suffix("").parts
        names.append(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return names


def defined_exceptions() -> list[type[BaseException]]:
    """Every exception class the package's modules define (not those they import)."""
    classes: dict[str, type[BaseException]] = {}
    for name in package_modules():
        module = importlib.import_module(name)
        for value in vars(module).values():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == name
            ):
                classes[f"{name}.{value.__qualname__}"] = value
    return list(classes.values())


def test_the_walk_finds_the_package_exceptions() -> None:
    names = {cls.__name__ for cls in defined_exceptions()}
    assert {"GMICloudError", "WaitTimeout", "BudgetExceeded", "_Retry", "_ClaimLost"} <= names


def test_every_public_exception_is_a_gmicloud_error_in_errors_py() -> None:
    stray = [
        f"{cls.__module__}.{cls.__qualname__}"
        for cls in defined_exceptions()
        if not cls.__name__.startswith("_")
        and (not issubclass(cls, GMICloudError) or cls.__module__ != "prefect_gmicloud.errors")
    ]
    assert stray == []


def test_private_signals_are_not_gmicloud_errors() -> None:
    """A private signal caught by ``except GMICloudError`` would be read as a real failure."""
    leaking = [
        cls.__qualname__
        for cls in defined_exceptions()
        if cls.__name__.startswith("_") and issubclass(cls, GMICloudError)
    ]
    assert leaking == []
