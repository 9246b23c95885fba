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
    obj = getattr(dml, target.split(".", 1)[1], None) \
        if target.count(".") == 1 else None
    module = getattr(obj, "__module__", None)
    if obj is None or module is None or module == "dml":
        return None
    full = f"{module}.{target.split('.', 1)[1]}"
    node["reftarget"] = full
    domain = env.get_domain("py")
    return domain.resolve_xref(env, node["refdoc"], app.builder,
                               node["reftype"], full, node, contnode)


def setup(app):
    app.connect("missing-reference", _resolve_short_name)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
