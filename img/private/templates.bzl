"""Template expansion, shared by image_manifest, image_index, image_push and
image_load: the `build_settings` and `stamp` attributes and the one helper
that turns templated attribute values into a JSON file.

Templates are Go text/template strings (`{{.NAME}}`, `{{if .X}}...{{end}}`),
expanded by `img expand` with one set of values. Precedence, highest first:
a name of `build_settings`, then a key of Bazel's workspace status (only
when the target stamps). A name that neither gives expands to "".

A target stamps when Bazel runs with --stamp and its `stamp` is "enabled",
or its `stamp` is "auto" and //img/settings:stamp is "enabled" (its
default).
"""

load("@bazel_skylib//rules:common_settings.bzl", "BuildSettingInfo")
load(":settings.bzl", "StampInfo")

_TOOLCHAIN = "//img:toolchain_type"

def template_attrs(used_in):
    """The attributes of a rule whose attribute values are templates.

    Args:
      used_in: the attributes that are templates, for the documentation,
        for example "registry, repository, tag and tag_list".

    Returns:
      A dict of attribute names to attributes.
    """
    return {
        "build_settings": attr.string_keyed_label_dict(
            providers = [BuildSettingInfo],
            doc = ("Template values from build settings: name → a `string_flag` (bazel_skylib) or " +
                   "other build setting, for example `{\"ENVIRONMENT\": \"//settings:environment\"}`; " +
                   "%s may then use `{{.ENVIRONMENT}}`. A build setting wins over a workspace status " +
                   "key of the same name. See docs/guides/push-load-stamp.md.") % used_in,
        ),
        "stamp": attr.string(
            default = "auto",
            values = ["auto", "enabled", "disabled"],
            doc = ("Whether %s may use Bazel's workspace status (`{{.BUILD_TIMESTAMP}}`, " +
                   "`{{.BUILD_USER}}`, `{{.STABLE_...}}` keys of --workspace_status_command): " +
                   "`enabled` when Bazel runs with --stamp, `disabled` never, `auto` (the default) " +
                   "as --@rules_img//img/settings:stamp says (enabled by default). Without --stamp " +
                   "nothing is stamped, so builds stay cacheable.") % used_in,
        ),
        "_stamp": attr.label(default = "//img/private:stamp", providers = [StampInfo]),
    }

def _stamps(ctx):
    info = ctx.attr._stamp[StampInfo]
    if ctx.attr.stamp == "disabled" or not info.bazel_stamp:
        return False
    return ctx.attr.stamp == "enabled" or info.preference

def _setting_value(target):
    value = target[BuildSettingInfo].value
    if type(value) == "list":
        return ",".join([str(v) for v in value])
    if type(value) == "bool":
        return "true" if value else ""
    return str(value)

def _strings(value):
    """Every string of a template value: a string, or a list or dict of strings."""
    if type(value) == "string":
        return [value]
    if type(value) == "dict":
        return value.values()
    return value

def _drop_empty(value):
    seen = {}
    for v in value:
        if v and v not in seen:
            seen[v] = True
    return seen.keys()

def expand_templates(ctx, name, templates, data = {}, drop_empty = []):
    """Writes a JSON object: data's fields and templates' fields, expanded.

    Templates are strings, or lists or dicts of strings (dict keys are not
    templates). When none of them holds `{{`, the file is written at
    analysis time; otherwise an `img expand` action writes it, reading the
    workspace status files when the target stamps.

    Args:
      ctx: the context of a rule with template_attrs().
      name: the output file's name, below the target's package.
      templates: dict of field name → template value: a string, or a list
        or dict of strings.
      data: dict of fields copied as they are.
      drop_empty: names of list fields of templates whose empty strings and
        duplicates are removed after expansion (tags a template turned off).

    Returns:
      The File.
    """
    out = ctx.actions.declare_file(name)
    if not [s for v in templates.values() for s in _strings(v) if "{{" in s]:
        fields = dict(data)
        for key, value in templates.items():
            fields[key] = _drop_empty(value) if key in drop_empty else value
        ctx.actions.write(out, json.encode(fields) + "\n")
        return out
    request = ctx.actions.declare_file(name + ".request")
    ctx.actions.write(request, json.encode({
        "build_settings": {k: _setting_value(t) for k, t in ctx.attr.build_settings.items()},
        "data": data,
        "drop_empty": drop_empty,
        "label": str(ctx.label),
        "templates": templates,
    }))
    args = ctx.actions.args()
    args.add("expand")
    args.add("--request", request)
    args.add("--out", out)
    inputs = [request]
    if _stamps(ctx):
        # Stable keys first: volatile ones of the same name win.
        inputs.extend([ctx.info_file, ctx.version_file])
        args.add("--status", ctx.info_file)
        args.add("--status", ctx.version_file)
    ctx.actions.run(
        executable = ctx.toolchains[_TOOLCHAIN].imgtool.executable,
        arguments = [args],
        inputs = inputs,
        outputs = [out],
        mnemonic = "ImageTemplate",
        progress_message = "Expanding templates of %{label}",
        toolchain = _TOOLCHAIN,
    )
    return out
