"""A custom import-linter contract type: no import cycle between the modules of a package (``lint-imports``).

import-linter's own ``acyclic_siblings`` compares whole sub-packages (``router.tickets`` as one node), which is a
stricter rule than kefu keeps today; this one looks at modules: ``a -> b -> ... -> a`` is refused whenever every
module of the circle lies inside one of ``packages`` (lazy imports inside functions count: they still tie the modules
together). The pyproject registers it as ``acyclic_modules``; ``lint-imports`` runs from the repository root, which
import-linter puts on ``sys.path``, so ``scripts.import_contracts`` is importable as a namespace package.
"""

from __future__ import annotations

from typing import Any

import grimp
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck

# (importer, imported, line numbers)
Edge = tuple[str, str, list[int]]


def import_cycles(graph: grimp.ImportGraph, package: str) -> list[list[str]]:
    """The strongly connected components (two modules or more) of ``package``'s modules, each sorted."""
    modules = sorted(graph.find_descendants(package) | {package})
    inside = set(modules)
    edges = {m: sorted(graph.find_modules_directly_imported_by(m) & inside) for m in modules}
    # Tarjan's algorithm, iterative (a deep package must not hit the recursion limit)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in modules:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = len(index)
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component: list[str] = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return sorted(components)


def cycle_edges(graph: grimp.ImportGraph, component: list[str]) -> list[Edge]:
    """The imports that tie ``component`` together, with their line numbers."""
    members = set(component)
    found: list[Edge] = []
    for importer in component:
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & members):
            details = graph.get_import_details(importer=importer, imported=imported)
            found.append((importer, imported, sorted({int(d["line_number"]) for d in details})))
    return found


class AcyclicModulesContract(Contract):
    """``type = acyclic_modules``; ``packages``: the packages whose modules must not import each other in a circle."""

    type_name = "acyclic_modules"

    packages = fields.ListField(subfield=fields.ModuleField())

    def check(self, graph: grimp.ImportGraph, verbose: bool) -> ContractCheck:
        cycles: list[dict[str, Any]] = []
        for package in self.packages:  # type: ignore[attr-defined]
            for component in import_cycles(graph, package.name):
                cycles.append({"package": package.name, "modules": component,
                               "imports": cycle_edges(graph, component)})
        return ContractCheck(kept=not cycles, metadata={"cycles": cycles})

    def render_broken_contract(self, check: ContractCheck) -> None:
        for cycle in check.metadata["cycles"]:
            output.print_error(f"Import cycle in {cycle['package']} ({len(cycle['modules'])} modules):")
            output.new_line()
            for importer, imported, lines in cycle["imports"]:
                output.indent_cursor()
                output.print(f"- {importer} -> {imported} (l.{', '.join(map(str, lines))})")
            output.new_line()
