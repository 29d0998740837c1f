"""Letter-numbered appendices: the equations of Appendix A read (A.1), (A.2), ...

Sphinx numbers equations with the section number of their page, so an equation in
Chapter 1 reads (1.2). Section numbers are integers, and the appendices are not numbered,
so an appendix equation would read (1), (2), ... -- the same as on any other unnumbered
page. This extension renumbers the equations of the pages listed in the configuration
value ``appendix_letters`` (docname -> letter) as (letter, n). Both the number shown next
to the equation and every {eq} reference to it, from any page, then read "A.n".

It changes numbers only after Sphinx has assigned them, so it works with incremental
builds and with ``-W -n``. The LaTeX builder numbers equations itself and is unaffected.
"""

from __future__ import annotations

from sphinx.application import Sphinx
from sphinx.environment import BuildEnvironment


def _letter_equations(app: Sphinx, env: BuildEnvironment) -> list[str]:
    changed = []
    for docname, letter in app.config.appendix_letters.items():
        numbers = env.toc_fignumbers.get(docname, {}).get("displaymath")
        if not numbers:
            continue
        # Insertion order is document order (Sphinx walks each doctree in order).
        for n, node_id in enumerate(list(numbers), start=1):
            numbers[node_id] = (letter, n)
        changed.append(docname)
    return changed


def setup(app: Sphinx) -> dict:
    app.add_config_value("appendix_letters", {}, "env", [dict])
    # After Sphinx's own TocTreeCollector (priority 500) has assigned the numbers.
    app.connect("env-get-updated", _letter_equations, priority=900)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
