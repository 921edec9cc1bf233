"""Actions of the img tool that may run in a Bazel persistent worker."""

# Bazel runs an action with these requirements in a persistent worker when
# its strategy allows it (the default strategies do), and as one process
# per action otherwise: remotely, or with another --strategy.
WORKER_REQUIREMENTS = {
    "requires-worker-protocol": "json",
    "supports-workers": "1",
}

def worker_arguments(ctx, subcommand):
    """The arguments of an img action that may run in a worker.

    The subcommand starts the worker; the flags go to each work request, in a
    param file Bazel writes. Add each flag as one "--name=value" argument
    (`flags.add(value, format = "--name=%s")`): Bazel reads a line of that
    file that starts with "@" as the name of another param file, and a label
    can start with "@".

    Args:
      ctx: the rule context.
      subcommand: the img subcommand, for example "manifest".

    Returns:
      struct(list, flags): `list` for `arguments` of ctx.actions.run, and the
      Args to add the flags to.
    """
    start = ctx.actions.args()
    start.add(subcommand)
    flags = ctx.actions.args()
    flags.use_param_file("@%s", use_always = True)
    flags.set_param_file_format("multiline")
    return struct(list = [start, flags], flags = flags)
