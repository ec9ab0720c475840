"""Docstrings hold their LaTeX intact: no control characters from ``\\t``, ``\\a``, ``\\b``, ... escapes.

In a non-raw string ``:math:`\\tau``` becomes a TAB followed by ``au`` (likewise ``\\approx``,
``\\bar``, ``\\frac``, ``\\varepsilon``); docstrings with LaTeX are raw strings (``r\"\"\"...\"\"\"``).
"""

import importlib
import inspect
import io
import pkgutil
import re
import tokenize
from pathlib import Path

import jaxpop

ROOT = Path(jaxpop.__file__).parent


def _modules():
    yield jaxpop
    for info in pkgutil.walk_packages(jaxpop.__path__, "jaxpop."):
        yield importlib.import_module(info.name)


def _documented(module):
    yield module.__name__, module
    for name, obj in vars(module).items():
        if getattr(obj, "__module__", None) != module.__name__:
            continue
        if inspect.isclass(obj) or inspect.isfunction(obj):
            yield f"{module.__name__}.{name}", obj
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                member = member.fget if isinstance(member, property) else getattr(member, "__func__", member)
                if inspect.isfunction(member):
                    yield f"{module.__name__}.{name}.{attr}", member


def test_no_control_characters_in_docstrings():
    bad = []
    for module in _modules():
        for name, obj in _documented(module):
            doc = obj.__doc__ if isinstance(obj.__doc__, str) else ""
            for ch in sorted({c for c in doc if ord(c) < 0x20 and c != "\n"}):
                bad.append(f"{name}: {ch!r}")
    assert not bad, "control characters in docstrings (LaTeX in a non-raw string?):\n" + "\n".join(bad)


def test_no_latex_escapes_in_non_raw_strings():
    # a single backslash + one of the escape letters + more letters in a non-raw literal: \tau, \bar, \frac, ...
    # (\n followed by letters is left out: line breaks in messages are legitimate)
    pattern = re.compile(r"(?<!\\)(?:\\\\)*\\[abftv][A-Za-z]")
    bad = []
    for path in sorted(ROOT.rglob("*.py")):
        for tok in tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline):
            if tok.type != tokenize.STRING:
                continue
            prefix = re.match(r"[A-Za-z]*", tok.string).group(0).lower()
            if "r" not in prefix and pattern.search(tok.string):
                bad.append(f"{path.relative_to(ROOT.parent)}:{tok.start[0]}")
    assert not bad, "non-raw string literals with LaTeX-like escapes:\n" + "\n".join(bad)
