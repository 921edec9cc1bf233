"""Prints what shows that the image carries what a Python program needs:
the interpreter and standard library, the runfiles of the py_binary, and
the base's users, time zones and CA certificates."""

import datetime
import os
import pwd
import ssl
import zoneinfo

from lib import greeting

# rules_python's runfiles library. The launcher puts each repository of the
# runfiles on sys.path, so it is "python.runfiles" under Bzlmod.
from python.runfiles import runfiles


def main():
    print(greeting.greet())
    print("user: %s (%d)" % (pwd.getpwuid(os.geteuid()).pw_name, os.geteuid()))
    epoch = datetime.datetime.fromtimestamp(0, zoneinfo.ZoneInfo("Europe/Berlin"))
    print("Europe/Berlin at the epoch: %s" % epoch.strftime("%Y-%m-%d %H:%M:%S %Z"))
    print("CA certificates: %d" % ssl.create_default_context().cert_store_stats()["x509_ca"])

    r = runfiles.Create()
    with open(r.Rlocation("_main/lib/message.txt")) as f:
        print("message: %s" % f.read().strip())
    # An apparent repository name: _repo_mapping gives its directory.
    library = r.Rlocation("rules_python/python/runfiles/runfiles.py")
    print("runfiles library: %s" % os.path.relpath(library, os.environ["RUNFILES_DIR"]))


if __name__ == "__main__":
    main()
