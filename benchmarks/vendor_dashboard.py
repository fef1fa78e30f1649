"""Make asv's published dashboard work offline.

asv 0.6 writes an ``index.html`` that loads jQuery, flot, Bootstrap and a few
plug-ins from CDNs; on a machine without internet access the page shows only
"external (JavaScript) dependencies failed to load".  This script fetches the
same libraries from the npm registry (``npm pack``, so npm must be installed),
copies them to ``<html>/vendor/`` and points the pages at those copies::

    asv publish && python benchmarks/vendor_dashboard.py .asv/html
"""
from __future__ import annotations

import pathlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

#: CDN address in asv's pages -> (npm package@version, file inside the package)
FILES = {
    "https://code.jquery.com/jquery-3.3.1.min.js": ("jquery@3.3.1", "dist/jquery.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.min.js": ("flot@0.8.3", "jquery.flot.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.time.min.js":
        ("flot@0.8.3", "jquery.flot.time.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.selection.min.js":
        ("flot@0.8.3", "jquery.flot.selection.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/flot/0.8.3/jquery.flot.categories.min.js":
        ("flot@0.8.3", "jquery.flot.categories.js"),
    "https://cdn.jsdelivr.net/npm/flot-orderbars@1.0.0/js/jquery.flot.orderBars.js":
        ("flot-orderbars@1.0.0", "js/jquery.flot.orderBars.js"),
    # 1.0.1 is not on npm; 1.1.3 has the same $.fn.stupidtable interface
    "https://cdnjs.cloudflare.com/ajax/libs/stupidtable/1.0.1/stupidtable.min.js":
        ("stupid-table-plugin@1.1.3", "stupidtable.min.js"),
    "https://cdnjs.cloudflare.com/ajax/libs/blueimp-md5/2.19.0/js/md5.min.js":
        ("blueimp-md5@2.19.0", "js/md5.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/js/bootstrap.min.js":
        ("bootstrap@3.1.1", "dist/js/bootstrap.min.js"),
    "https://cdn.jsdelivr.net/npm/bootstrap@3.1.1/dist/css/bootstrap.min.css":
        ("bootstrap@3.1.1", "dist/css/bootstrap.min.css"),
}


def _unpack(spec: str, work: pathlib.Path) -> pathlib.Path:
    dest = work / spec.replace("@", "-")
    if not dest.exists():
        tgz = subprocess.run(["npm", "pack", "--silent", spec], cwd=work, check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        with tarfile.open(work / tgz) as tar:
            tar.extractall(dest, filter="data")
    return dest / "package"


def vendor(html_dir) -> int:
    """Copy the libraries into ``html_dir/vendor`` and rewrite the pages; returns files changed."""
    html = pathlib.Path(html_dir)
    vendor_dir = html / "vendor"
    vendor_dir.mkdir(exist_ok=True)
    changed = 0
    with tempfile.TemporaryDirectory() as tmp:
        work = pathlib.Path(tmp)
        local = {}
        for url, (spec, inner) in FILES.items():
            src = _unpack(spec, work) / inner
            name = f"{spec.replace('@', '-')}-{pathlib.Path(inner).name}"
            shutil.copyfile(src, vendor_dir / name)
            local[url] = f"vendor/{name}"
    for page in html.glob("*.html"):
        text = page.read_text()
        new = text
        for url, path in local.items():
            new = new.replace(url, path)
        # the pages pin the CDN's minified builds by hash (Subresource Integrity); the
        # registry copies differ byte for byte, so their tags drop the pin
        new = re.sub(r'(<(?:script|link)[^>]*"vendor/[^"]*"[^>]*?)\s+integrity="[^"]*"', r"\1", new)
        if new != text:
            page.write_text(new)
            changed += 1
    return changed


if __name__ == "__main__":
    n = vendor(sys.argv[1] if len(sys.argv) > 1 else ".asv/html")
    print(f"vendored the dashboard's JavaScript; {n} page(s) rewritten")
