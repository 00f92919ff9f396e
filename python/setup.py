"""Builds libSandlockC.so with swift (unless SANDLOCK_LIBRARY names a built one) and installs
it inside the `sandlock` package, where sandlock/_native.py loads it.

  SANDLOCK_LIBRARY=/path/libSandlockC.so   use this library, build nothing
  SANDLOCK_SWIFT_CONFIGURATION=debug       `swift build -c debug` (default release)

The library finds the Swift runtime through its RUNPATH (the toolchain that built it), so
the toolchain stays installed where it was.
"""

import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

LIBRARY = "libSandlockC.so"
REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def built_library():
    explicit = os.environ.get("SANDLOCK_LIBRARY")
    if explicit:
        if not os.path.isfile(explicit):
            raise SystemExit("sandlock: SANDLOCK_LIBRARY=%s does not exist" % explicit)
        return explicit
    if not os.path.isfile(os.path.join(REPOSITORY, "Package.swift")):
        raise SystemExit("sandlock: build from the sandlock-jobs repository (pip install ./python), "
                         "or set SANDLOCK_LIBRARY to a built %s" % LIBRARY)
    if shutil.which("swift") is None:
        raise SystemExit("sandlock: no `swift` in PATH to build %s (install a Swift 6 toolchain; "
                         "Scripts/setup.sh lists the rest), or set SANDLOCK_LIBRARY" % LIBRARY)
    configuration = os.environ.get("SANDLOCK_SWIFT_CONFIGURATION", "release")
    command = ["swift", "build", "-c", configuration, "--product", "SandlockC"]
    print("sandlock: " + " ".join(command), flush=True)
    subprocess.run(command, cwd=REPOSITORY, check=True)
    path = subprocess.run(command[:-2] + ["--show-bin-path"], cwd=REPOSITORY, check=True,
                          capture_output=True, text=True).stdout.strip()
    return os.path.join(path, LIBRARY)


class BuildWithLibrary(build_py):
    def run(self):
        super().run()
        target = os.path.join(self.build_lib, "sandlock")
        os.makedirs(target, exist_ok=True)
        shutil.copy2(built_library(), os.path.join(target, LIBRARY))


class WithNativeLibrary(Distribution):
    """The wheel carries a Linux shared library: tag it for the platform, not as pure Python."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=WithNativeLibrary)
