"""String build settings with a fixed set of accepted values."""

SettingValueInfo = provider(
    doc = "The value of a rules_img build setting.",
    fields = {"value": "string: the setting's value, checked against its accepted values."},
)

def is_positive_int(value):
    """Whether a string is a positive decimal integer such as "4".

    Args:
      value: the string.

    Returns:
      True or False.
    """
    return value.isdigit() and int(value) > 0

def _string_setting_impl(ctx):
    value = ctx.build_setting_value
    accepted = value in ctx.attr.values or (ctx.attr.positive_ints and is_positive_int(value))
    if ctx.attr.values and not accepted:
        fail("--%s=%s is not accepted: use one of %s%s" % (
            ctx.label,
            value,
            ", ".join(ctx.attr.values),
            " or a positive number" if ctx.attr.positive_ints else "",
        ))
    return [SettingValueInfo(value = value)]

string_setting = rule(
    implementation = _string_setting_impl,
    build_setting = config.string(flag = True),
    doc = "A string flag that accepts only the listed values.",
    attrs = {
        "values": attr.string_list(doc = "Accepted values; empty accepts anything."),
        "positive_ints": attr.bool(doc = "Also accept positive decimal integers."),
    },
)

StampInfo = provider(
    doc = "What decides whether a target's templates read the workspace status.",
    fields = {
        "bazel_stamp": "bool: Bazel runs with --stamp.",
        "preference": "bool: //img/settings:stamp is enabled, for targets whose stamp is auto.",
    },
)

def _stamp_detect_impl(ctx):
    return [StampInfo(
        bazel_stamp = ctx.attr.bazel_stamp,
        preference = ctx.attr.setting[SettingValueInfo].value == "enabled",
    )]

stamp_detect = rule(
    implementation = _stamp_detect_impl,
    doc = "Combines //img/settings:stamp with Bazel's --stamp.",
    attrs = {
        "bazel_stamp": attr.bool(doc = "Bazel's --stamp, through a select()."),
        "setting": attr.label(mandatory = True, doc = "The //img/settings:stamp setting."),
    },
)
