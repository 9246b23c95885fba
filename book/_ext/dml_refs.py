"""Sphinx extension: resolve ``dml.name`` to where ``name`` is documented.

The library's public API is flat (``dml.knn_accuracy``) but the API page
documents each function in its module (``dml.neighbors.knn_accuracy``), where
viewcode can link its source. Docstrings and chapters may use the short
form; this handler finds the object's home module and retries there.
"""
import importlib


def _resolve_short_name(app, env, node, contnode):
    target = node.get("reftarget", "")
    if node.get("refdomain") != "py" or not target.startswith("dml."):
        return None
    try:
        dml = importlib.import_module("dml")
    except ImportError:
        return None
    name = target.split(".", 1)[1]
    obj = getattr(dml, name, None) if "." not in name else None
    module = getattr(obj, "__module__", None)
    if obj is None or module is None or module == "dml":
        return None
    # documented either in its own module (dml.metrics.retrieval) or in a
    # package that re-exports it (dml.losses): try the longest name first
    parts = module.split(".")
    domain = env.get_domain("py")
    for depth in range(len(parts), 1, -1):
        full = ".".join(parts[:depth]) + "." + name
        node["reftarget"] = full
        found = domain.resolve_xref(env, node["refdoc"], app.builder,
                                    node["reftype"], full, node, contnode)
        if found is not None:
            return found
    node["reftarget"] = target
    return None


def setup(app):
    app.connect("missing-reference", _resolve_short_name)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
