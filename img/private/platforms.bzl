"""Maps the target platform's constraints to an OCI platform."""

# Bazel constraint value → OCI os.
OCI_OS = {
    "@platforms//os:linux": "linux",
    "@platforms//os:windows": "windows",
    "@platforms//os:macos": "darwin",
    "@platforms//os:freebsd": "freebsd",
}

# Bazel constraint value → (OCI architecture, variant).
OCI_CPU = {
    "@platforms//cpu:x86_64": ("amd64", ""),
    "@platforms//cpu:aarch64": ("arm64", "v8"),
    "@platforms//cpu:arm64": ("arm64", "v8"),
    "@platforms//cpu:armv7": ("arm", "v7"),
    "@platforms//cpu:arm": ("arm", "v6"),
    "@platforms//cpu:x86_32": ("386", ""),
    "@platforms//cpu:i386": ("386", ""),
    "@platforms//cpu:ppc64le": ("ppc64le", ""),
    "@platforms//cpu:s390x": ("s390x", ""),
    "@platforms//cpu:riscv64": ("riscv64", ""),
    "@platforms//cpu:mips64": ("mips64", ""),
    "@platforms//cpu:loongarch64": ("loong64", ""),
}

def platform_attrs():
    """The private attributes that oci_platform() needs.

    Returns:
      A dict of attribute names to attributes.
    """
    return {
        "_oci_os": attr.label_list(default = OCI_OS.keys(), providers = [platform_common.ConstraintValueInfo]),
        "_oci_cpu": attr.label_list(default = OCI_CPU.keys(), providers = [platform_common.ConstraintValueInfo]),
    }

def _match(ctx, targets, table, what):
    for target in targets:
        if ctx.target_platform_has_constraint(target[platform_common.ConstraintValueInfo]):
            key = "@platforms//" + target.label.package + ":" + target.label.name
            return table[key]
    fail("%s: the target platform has no %s constraint that maps to an OCI platform; give it one of %s" % (
        ctx.label,
        what,
        ", ".join(table.keys()),
    ))

def oci_platform(ctx):
    """The OCI platform of the rule's target platform.

    Args:
      ctx: the rule context of a rule with platform_attrs().

    Returns:
      struct(os, architecture, variant)
    """
    os = _match(ctx, ctx.attr._oci_os, OCI_OS, "@platforms//os")
    arch, variant = _match(ctx, ctx.attr._oci_cpu, OCI_CPU, "@platforms//cpu")
    return struct(os = os, architecture = arch, variant = variant)
