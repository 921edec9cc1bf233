"""file_metadata(): the attributes of a file in a layer, as a JSON string."""

_OCTAL = "01234567"

def _check_mode(mode):
    if not mode or len(mode) > 4 or [c for c in mode.elems() if c not in _OCTAL]:
        fail("file_metadata: mode %r is not an octal permission such as \"0755\" or \"0644\"" % mode)

def _check_id(name, value):
    if type(value) != "int" or value < 0:
        fail("file_metadata: %s %r must be a non-negative integer" % (name, value))

def file_metadata(mode = None, uid = None, gid = None, uname = None, gname = None, mtime = None):
    """Describes the tar attributes of a file, directory or symlink in a layer.

    Use it for image_layer's `file_metadata` (per path) and
    `default_metadata` (for every entry). Unset fields keep their default:
    mode 0755 for executables and directories, 0644 for other files, uid and
    gid 0, empty user and group names, and an mtime of the Unix epoch.

    Args:
      mode: octal permission string, for example "0755".
      uid: numeric user id.
      gid: numeric group id.
      uname: user name.
      gname: group name.
      mtime: RFC 3339 time ("2024-01-02T03:04:05Z") or Unix seconds as a string.

    Returns:
      A JSON string for the image_layer attributes.
    """
    fields = {}
    if mode != None:
        _check_mode(mode)
        fields["mode"] = mode
    if uid != None:
        _check_id("uid", uid)
        fields["uid"] = uid
    if gid != None:
        _check_id("gid", gid)
        fields["gid"] = gid
    if uname != None:
        fields["uname"] = uname
    if gname != None:
        fields["gname"] = gname
    if mtime != None:
        fields["mtime"] = str(mtime)
    return json.encode(fields)
