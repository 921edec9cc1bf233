"""String build settings with a fixed set of accepted values."""

SettingValueInfo = provider(
    doc = "The value of a rules_img build setting.",
    fields = {"value": "string: the setting's value, checked against its accepted values."},
)

def _string_setting_impl(ctx):
    value = ctx.build_setting_value
    if ctx.attr.values and value not in ctx.attr.values:
        fail("--%s=%s is not accepted: use one of %s" % (ctx.label, value, ", ".join(ctx.attr.values)))
    return [SettingValueInfo(value = value)]

string_setting = rule(
    implementation = _string_setting_impl,
    build_setting = config.string(flag = True),
    doc = "A string flag that accepts only the listed values.",
    attrs = {
        "values": attr.string_list(doc = "Accepted values; empty accepts anything."),
    },
)
