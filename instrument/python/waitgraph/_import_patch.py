"""Patching a module right after it is imported (or at once if it already
was): for libraries the shim hooks only when the program uses them (asgiref,
anyio). A sys.meta_path finder lets the real finders find the module and
patches it after it executes; its __loader__ and __spec__ stay the real ones.
A failing patch leaves the module as it is (the shim never breaks an import)."""

import sys


class PatchOnImport:
    """A sys.meta_path finder that lets the real finders find the target
    modules and patches them right after they execute. The module's
    __loader__/__spec__ stay the real ones."""

    def __init__(self, patcher, targets):
        self._patcher = patcher
        self._targets = targets  # module name -> patch(module, patcher)

    def install(self):
        for name, patch in self._targets.items():
            module = sys.modules.get(name)
            if module is not None:
                self._patch(name, module)
        sys.meta_path.insert(0, self)

    def uninstall(self):
        try:
            sys.meta_path.remove(self)
        except ValueError:
            pass

    def _patch(self, name, module):
        try:
            self._targets[name](module, self._patcher)
        except Exception:
            pass

    def find_spec(self, name, path=None, target=None):
        if name not in self._targets:
            return None
        spec = None
        for finder in sys.meta_path:
            if finder is self:
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(name, path, target)
            if spec is not None:
                break
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original_exec = getattr(loader, "exec_module", None)
        if original_exec is None:
            return spec
        hook = self

        def exec_module(module):
            try:
                del loader.exec_module  # back to the class's method
            except AttributeError:
                pass
            original_exec(module)
            hook._patch(name, module)

        try:
            loader.exec_module = exec_module
        except Exception:
            pass
        return spec

    def invalidate_caches(self):
        pass
