"""The multi_deploy rule: many pushes and loads as one `bazel run`."""

load(":deploy.bzl", "deploy_launcher", "rlocation")
load(":load.bzl", "LOAD_STRATEGIES", "load_strategy")
load(":providers.bzl", "DeployInfo")
load(":push.bzl", "PUSH_STRATEGIES", "push_strategy")
load(":settings.bzl", "SettingValueInfo")

_TOOLCHAIN = "//img:toolchain_type"

def _forced(ctx, kind):
    """The strategy multi_deploy forces on operations of a kind, or None."""
    if kind == "push" and ctx.attr.push_strategy != "auto":
        return push_strategy(ctx, ctx.attr.push_strategy)
    if kind == "load" and ctx.attr.load_strategy != "auto":
        return load_strategy(ctx, ctx.attr.load_strategy)
    return None

def _multi_deploy_impl(ctx):
    tool = ctx.toolchains[_TOOLCHAIN].imgtool.executable
    operations = []
    runfiles = ctx.runfiles(files = [tool])
    for target in ctx.attr.operations:
        op = target[DeployInfo]
        entry = {
            "config": rlocation(ctx, op.config),
            "kind": op.kind,
            "label": str(target.label),
            "spec": rlocation(ctx, op.spec),
        }
        op_runfiles = op.runfiles
        strategy = _forced(ctx, op.kind)
        if strategy:
            # The plan's strategy overrides the operation's own, with the
            # runfiles that strategy needs: the blobs only for eager.
            entry["strategy"] = strategy
            op_runfiles = op.eager_runfiles if strategy == "eager" else op.lazy_runfiles
        operations.append(entry)
        runfiles = runfiles.merge(op_runfiles)
    plan = ctx.actions.declare_file(ctx.label.name + ".plan.json")
    ctx.actions.write(plan, json.encode({"operations": operations}))
    launcher = deploy_launcher(ctx, "deploy", ["--plan", '"$runfiles/%s"' % rlocation(ctx, plan)])
    return [DefaultInfo(executable = launcher, runfiles = runfiles.merge(ctx.runfiles(files = [plan])))]

multi_deploy = rule(
    implementation = _multi_deploy_impl,
    doc = """Runs several image_push and image_load targets as one `bazel run`.

The pushes run first, 8 at a time (`--jobs=N` at run time), then the loads
in order; references print in the order of `operations`. Blobs that
several images share are uploaded once: the first push that needs one
uploads it, the others mount it from there. Run-time flags (`--registry`,
`--repository`, `--tag`, and image_push's signing flags) apply to every
push; `--daemon`, `--address`, `--namespace` and `--platform` to every load.""",
    executable = True,
    attrs = {
        "operations": attr.label_list(
            mandatory = True,
            providers = [DeployInfo],
            doc = "image_push or image_load targets (anything that returns DeployInfo): the loads run in this " +
                  "order, the pushes at once, and their references print in this order.",
        ),
        "push_strategy": attr.string(
            default = "auto",
            values = ["auto"] + PUSH_STRATEGIES,
            doc = "The push strategy of every push: `eager`, `lazy`, `cas_registry` or `bes`; `auto` keeps " +
                  "each push's own.",
        ),
        "load_strategy": attr.string(
            default = "auto",
            values = ["auto"] + LOAD_STRATEGIES,
            doc = "The load strategy of every load: `eager` or `lazy`; `auto` keeps each load's own.",
        ),
        "_push_strategy": attr.label(default = "//img/settings:push_strategy", providers = [SettingValueInfo]),
        "_load_strategy": attr.label(default = "//img/settings:load_strategy", providers = [SettingValueInfo]),
        "_launcher": attr.label(allow_single_file = True, default = "//img/private:deploy.sh.tpl"),
    },
    toolchains = [_TOOLCHAIN],
)
