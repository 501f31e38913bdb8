"""A Griffe extension: let cross-references use minifw's public paths (`minifw.Trainer.fit`).

Every public name is importable from `minifw` itself, and the pages link to it that way
(`[fit][minifw.Trainer.fit]`), while the API reference documents each object under the module that
defines it (`minifw.train.trainer.Trainer.fit`). mkdocstrings registers an object's anchor under the
paths of the aliases Griffe knows for it, and Griffe creates the alias of a member
(`minifw.Trainer.fit`) only when someone looks it up. This extension looks up, once the package is
loaded, every name in the package's `__all__` and the members of each class among them, so each
public path names its object on the site.
"""

from __future__ import annotations

from typing import Any

from griffe import Alias, AliasResolutionError, CyclicAliasError, Extension, GriffeLoader, Module

__all__ = ["PublicPaths"]


class PublicPaths(Extension):
    """Register `package.Name` and `package.Name.member` as aliases of the objects they name."""

    def on_package(self, *, pkg: Module, loader: GriffeLoader, **kwargs: Any) -> None:
        """Resolve the aliases of `pkg`'s exported names and of their members."""
        for name in pkg.exports or ():
            member = pkg.members.get(str(name))
            if not isinstance(member, Alias):
                continue
            try:
                if member.final_target.is_class:
                    list(member.members.values())  # creates (and registers) each member's alias
            except (AliasResolutionError, CyclicAliasError):
                continue
