"""file_metadata(): the attributes of a file in a layer, as a JSON string."""

_OCTAL = "01234567"
_FIELDS = ["mode", "uid", "gid", "uname", "gname", "mtime", "pax_records"]

def check_metadata(fields, where):
    """Fails with a message naming `where` when a metadata field is invalid.

    Args:
      fields: dict decoded from a file_metadata() string.
      where: what to name in the message, e.g. the target and attribute.
    """
    for key in fields:
        if key not in _FIELDS:
            fail("%s: unknown field %r; file_metadata takes %s" % (where, key, ", ".join(_FIELDS)))
    mode = fields.get("mode")
    if mode != None and (type(mode) != "string" or not mode or len(mode) > 4 or
                         [c for c in mode.elems() if c not in _OCTAL]):
        fail("%s: mode %r is not an octal permission string such as \"0755\" or \"0644\"" % (where, mode))
    for key in ["uid", "gid"]:
        value = fields.get(key)
        if value != None and (type(value) != "int" or value < 0):
            fail("%s: %s %r must be a non-negative integer" % (where, key, value))
    for key in ["uname", "gname", "mtime"]:
        value = fields.get(key)
        if value != None and type(value) != "string":
            fail("%s: %s %r must be a string" % (where, key, value))
    records = fields.get("pax_records")
    if records != None and (type(records) != "dict" or
                            [k for k, v in records.items() if type(k) != "string" or not k or type(v) != "string"]):
        fail("%s: pax_records %r must be a dict of non-empty string keys to strings, such as " % (where, records) +
             "{\"SCHILY.xattr.user.origin\": \"build\"}")

def file_metadata(*, mode = None, uid = None, gid = None, uname = None, gname = None, mtime = None, pax_records = None):
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
      mtime: RFC 3339 time ("2024-01-02T03:04:05Z") or Unix seconds.
      pax_records: dict of PAX record name → value for the entry's tar
        header, for example extended attributes
        `{"SCHILY.xattr.security.capability": "..."}`. Records that tar
        derives itself (path, size, owners, times) are refused.

    Returns:
      A JSON string for the image_layer attributes.
    """
    fields = {
        "gid": gid,
        "gname": gname,
        "mode": mode,
        "mtime": str(mtime) if mtime != None else None,
        "pax_records": pax_records,
        "uid": uid,
        "uname": uname,
    }
    fields = {k: v for k, v in fields.items() if v != None}
    check_metadata(fields, "file_metadata")
    return json.encode(fields)
