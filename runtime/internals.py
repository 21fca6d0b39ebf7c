"""The Rasa internals this project replaces or builds on, checked before Rasa starts or trains.

Each module that stands in for part of Rasa lists what it relies on in ``RELIES_ON``: the
dotted path of a Rasa function or class (``module:Qualified.name``) and a digest of its
source as it was when the replacement was written and tested against it. Rasa's private
code can change in any release without notice; a replacement written for the old code could
then do nothing (a module global no longer read) or do the wrong thing (a method whose
callers changed). So ``python -m runtime.serve`` and ``python -m runtime.train`` refuse to
start when any of them is missing or its source differs, naming each one and the module to
re-check: a Rasa upgrade fails loudly instead of running half-replaced.

After upgrading Rasa: read each changed internal against the module that names it, adapt
the module and its test, then print the new digests with ``python -m runtime.internals``.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import sys
from types import ModuleType
from typing import Any, Iterable, List, Mapping, Optional, Tuple


class RasaInternalsChanged(RuntimeError):
    """A Rasa internal that a replacement relies on is missing or has changed; the message names each."""


def resolve(path: str) -> Any:
    """The object at ``module:Qualified.name``, as Rasa defines it (a replacement installed
    over it is looked through, via the ``__rasa_original__`` it carries).

    Raises:
        AttributeError, ImportError: when it no longer exists.
    """
    module_name, _, qualified = path.partition(":")
    found: Any = importlib.import_module(module_name)
    for part in qualified.split(".") if qualified else []:
        found = inspect.getattr_static(found, part) if inspect.isclass(found) else getattr(found, part)
        if isinstance(found, (staticmethod, classmethod)):
            found = found.__func__
        found = getattr(found, "__rasa_original__", found)
    return found


def digest(path: str) -> str:
    """The first 16 hex digits of the SHA-256 of the source of ``path``."""
    return hashlib.sha256(inspect.getsource(resolve(path)).encode()).hexdigest()[:16]


def current_digest(path: str) -> Tuple[Optional[str], str]:
    """``(digest, "")`` of ``path`` in the installed Rasa, or ``(None, why)`` when it is gone."""
    try:
        return digest(path), ""
    except (AttributeError, ImportError, OSError, TypeError) as error:
        return None, type(error).__name__


def problems(modules: Iterable[ModuleType]) -> List[str]:
    """What differs between each module's ``RELIES_ON`` and the installed Rasa, one line each."""
    found = []
    for module in modules:
        expected: Mapping[str, str] = module.RELIES_ON
        for path, known in expected.items():
            current, why = current_digest(path)
            if current is None:
                found.append(f"{path} is gone ({why}); {module.__name__} relies on it")
            elif current != known:
                found.append(
                    f"{path} has changed (source digest {current}, expected {known}); re-check {module.__name__}"
                )
    return found


def check(modules: Iterable[ModuleType]) -> int:
    """Checks every internal the modules rely on; returns how many were checked.

    Raises:
        RasaInternalsChanged: naming every internal that is missing or changed.
    """
    modules = list(modules)
    found = problems(modules)
    if found:
        import rasa

        raise RasaInternalsChanged(
            f"Rasa {rasa.__version__} differs from the Rasa these replacements were written for:\n  "
            + "\n  ".join(found)
        )
    return sum(len(module.RELIES_ON) for module in modules)


def main() -> int:
    """Prints every internal with its current digest, marking those that differ."""
    from runtime import serve, train

    seen = set()
    for module in [*serve.CHECKED, *train.CHECKED]:
        if module.__name__ in seen:
            continue
        seen.add(module.__name__)
        for path, known in module.RELIES_ON.items():
            current, why = current_digest(path)
            mark = "" if current == known else "   <- changed"
            print(f"{module.__name__}  {path}  {current or f'missing ({why})'}{mark}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
