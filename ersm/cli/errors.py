"""How the command line reports a user's mistake: one line, with an install hint where a
missing optional module is the cause."""

from __future__ import annotations


EXTRA_OF_MODULE: dict[str, str] = {
    "torch": "nets", "PIL": "nets", "matplotlib": "demo", "skimage": "demo", "sklearn": "demo",
}
"""Which pip extra installs a module that ``pip install ersm`` (the solver core) lacks."""


def one_line(exc: BaseException) -> str:
    """The first line of ``str(exc)``, or the exception's type name when it is empty; a
    missing optional module gets its install hint."""
    lines = str(exc).strip().splitlines()
    line = lines[0] if lines else type(exc).__name__
    missing = (getattr(exc, "name", None) or "").split(".")[0]
    if isinstance(exc, ModuleNotFoundError) and missing in EXTRA_OF_MODULE:
        line += f" (install it with: pip install 'ersm[{EXTRA_OF_MODULE[missing]}]')"
    return line
