"""Fixtures more than one test file shares."""

import pytest

import debpkg


@pytest.fixture(scope="session")
def deb_packages(tmp_path_factory):
    """The packages of this tree (debpkg.build()), built at the first test
    that needs them; skipped without dpkg-dev (make check installs it)."""
    if not debpkg.have_dpkg_dev():
        pytest.skip("dpkg-dev is not installed (make check installs it): "
                    "the Debian packages are not built")
    return debpkg.build(tmp_path_factory.mktemp("deb"))
